package checkov

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// EnvCache names where Scan keeps the reports of its scans: a directory, or "off" for none. Unset, the user's cache
// (eks-mlops-harness/checkov-scans).
const EnvCache = "HARNESS_CHECKOV_CACHE"

// cacheKeep is how many reports the cache keeps (the most recently used; a report is a few kilobytes).
const cacheKeep = 256

// CacheDir is where Scan keeps its reports ("" for none).
func CacheDir() string {
	switch v := os.Getenv(EnvCache); v {
	case "off":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "eks-mlops-harness", "checkov-scans")
	default:
		return v
	}
}

// scanKey identifies what a scan's report depends on: the cache's format, checkov's version and installation (the
// virtualenv the link bin resolves to: the machine's store names it by its content), the framework, the checkov
// configuration files checkov reads besides its flags (.checkov.yaml or .yml in the working directory and the home
// directory), and every entry under dir by relative path, type and content (symbolic links by their target).
func scanKey(bin, dir, framework string) (string, error) {
	h := sha256.New()
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "checkov-scan 1\x00%s\x00%s\x00%s\x00", Version, real, framework)
	var configs []string
	if wd, err := os.Getwd(); err == nil {
		configs = append(configs, filepath.Join(wd, ".checkov.yaml"), filepath.Join(wd, ".checkov.yml"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		configs = append(configs, filepath.Join(home, ".checkov.yaml"), filepath.Join(home, ".checkov.yml"))
	}
	for _, c := range configs {
		data, err := os.ReadFile(c)
		if err != nil && !os.IsNotExist(err) {
			return "", err
		}
		fmt.Fprintf(h, "config %s %d\x00", c, len(data))
		h.Write(data)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case t.IsDir():
			fmt.Fprintf(h, "dir %s\x00", rel)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %s %s\x00", rel, target)
		case t.IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %s %d\x00", rel, fi.Size())
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		default:
			fmt.Fprintf(h, "other %s %v\x00", rel, t)
		}
		return nil
	})
	if err != nil {
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
