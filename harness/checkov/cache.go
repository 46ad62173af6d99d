package checkov

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/digest"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/usercache"
)

// EnvCache names where Scan keeps the reports of its scans: a directory, or "none" for no cache. Unset, the user's
// cache (eks-mlops-harness/checkov-scans).
const EnvCache = "HARNESS_CHECKOV_CACHE"

// cacheKeep is how many reports the cache keeps (the most recently used; a report is a few kilobytes).
const cacheKeep = 256

// CacheDir is where Scan keeps its reports ("" for none).
func CacheDir() string { return usercache.Dir(EnvCache, "checkov-scans") }

// scanKey identifies what a scan's report depends on: the cache's format, checkov's version and installation (the
// virtualenv the link bin resolves to: the machine's store names it by its content), the framework, the checkov
// configuration files checkov reads besides its flags (.checkov.yaml or .yml in the working directory and the home
// directory), and every file and symbolic link under dir (digest.Tree: by relative path and content; nothing left
// out).
func scanKey(bin, dir, framework string) (string, error) {
	h := sha256.New()
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "checkov-scan 2\x00%s\x00%s\x00%s\x00", Version, real, framework)
	var configs []string
	if wd, err := os.Getwd(); err == nil {
		configs = append(configs, filepath.Join(wd, ".checkov.yaml"), filepath.Join(wd, ".checkov.yml"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		configs = append(configs, filepath.Join(home, ".checkov.yaml"), filepath.Join(home, ".checkov.yml"))
	}
	for _, c := range configs {
		if err := digest.File(h, c, c); err != nil && !os.IsNotExist(err) {
			return "", err
		}
	}
	if err := digest.Tree(h, dir, nil); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type cached struct {
	Report Report
	Ran    time.Time
}

// loadScan returns the report kept under key, with From set to when its scan ran.
func loadScan(cache, key string) (Report, bool) {
	path := filepath.Join(cache, key+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		return Report{}, false
	}
	var c cached
	if err := json.Unmarshal(data, &c); err != nil || c.Ran.IsZero() {
		return Report{}, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used: pruned last
	c.Report.From = c.Ran
	return c.Report, true
}

// storeScan keeps r under key (written whole, then renamed: a concurrent reader sees all of it or nothing) and
// prunes the cache to its cacheKeep most recently used reports.
func storeScan(cache, key string, r Report) {
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return
	}
	data, err := json.Marshal(cached{Report: r, Ran: time.Now().UTC()})
	if err != nil {
		return
	}
	f, err := os.CreateTemp(cache, ".scan-*")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), filepath.Join(cache, key+".json")) != nil {
		_ = os.Remove(f.Name())
		return
	}
	entries, err := filepath.Glob(filepath.Join(cache, "*.json"))
	if err != nil || len(entries) <= cacheKeep {
		return
	}
	mtime := map[string]time.Time{}
	for _, e := range entries {
		if fi, err := os.Stat(e); err == nil {
			mtime[e] = fi.ModTime()
		}
	}
	sort.Slice(entries, func(i, j int) bool { return mtime[entries[i]].After(mtime[entries[j]]) })
	for _, e := range entries[cacheKeep:] {
		_ = os.Remove(e)
	}
}
