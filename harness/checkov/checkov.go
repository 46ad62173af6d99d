// Package checkov runs the ecosystem's infrastructure-as-code scanner, checkov (Bridgecrew/Prisma Cloud, PyPI),
// offline: over the Terraform tree and over every manifest the harness renders (the in-repo charts, the workflow
// manifests and the upstream charts with the platform's values). It is installed into its own virtualenv on first
// use (its pins clash with moto's), pinned to one version.
package checkov

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
)

// Version is the checkov release the harness runs.
const Version = "3.3.30"

// ErrNoPython is returned when no python3 is installed: checkov cannot run.
var ErrNoPython = errors.New("python3 not found")

// Install makes sure <venv>/bin/checkov exists at Version, creating the virtualenv (python3 -m venv) and
// installing checkov when missing, through the machine's store of virtualenvs (pyenv.Shared: once per machine,
// concurrent installs wait for each other).
func Install(ctx context.Context, venv string) (string, error) {
	ready := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "checkov-"+Version))
		return err == nil
	}
	if _, err := exec.LookPath("python3"); err != nil && !ready(venv) {
		return "", ErrNoPython
	}
	key := func() (string, error) { return pyenv.Key(ctx, "checkov", []byte("checkov=="+Version)) }
	dir, _, err := pyenv.Shared(ctx, venv, key, ready, func(ctx context.Context, dir string) error {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		for _, args := range [][]string{
			{"python3", "-m", "venv", dir},
			{filepath.Join(dir, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check", "checkov==" + Version},
		} {
			var out bytes.Buffer
			cmd := proc.Command(ctx, args[0], args[1:]...)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out.String())
			}
		}
		return os.WriteFile(filepath.Join(dir, "checkov-"+Version), nil, 0o644)
	})
	return filepath.Join(dir, "bin", "checkov"), err
}

// Finding is one failed or skipped check on one resource.
type Finding struct {
	Check, Name, Resource string
	// File is relative to the scanned directory; Line is the first line of the resource there.
	File string
	Line int
}

// Report is one scan's outcome.
type Report struct {
	Passed int
	// Skipped counts the checks the code skips with a reason (--quiet leaves their details out).
	Skipped int
	Failed  []Finding
	// From is set when the report is an earlier scan's of identical inputs (Scan's cache): when that scan ran.
	From time.Time `json:",omitzero"`
}

// Scan runs checkov with one framework ("terraform", "kubernetes") over dir, offline (--skip-download: no
// platform, no policy download). A scan of the same inputs is not run again (the user's cache: see CacheDir): the
// same checkov installation, framework and checkov configuration, and every entry under dir the same by relative
// path and content — what checkov reads, so the report is the one it would give; Report.From says when it ran.
func Scan(ctx context.Context, bin, dir, framework string) (Report, error) {
	cache := CacheDir()
	key, kerr := scanKey(bin, dir, framework)
	if cache != "" && kerr == nil {
		if r, ok := loadScan(cache, key); ok {
			return r, nil
		}
	}
	r, err := scan(ctx, bin, dir, framework)
	if err == nil && cache != "" && kerr == nil {
		storeScan(cache, key, r) // best effort: a scan that cannot be kept is run again next time
	}
	return r, err
}

func scan(ctx context.Context, bin, dir, framework string) (Report, error) {
	// Its own temporary directory: checkov's HCL parser (lark) leaves a grammar cache file in TMPDIR.
	tmp, err := os.MkdirTemp("", "harness-checkov-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(tmp)
	cmd := proc.Command(ctx, bin, "-d", dir, "--framework", framework, "--skip-download", "--quiet", "--compact", "-o", "json")
	cmd.Env = append(os.Environ(), "BC_SKIP_MAPPING=TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false", "LOG_LEVEL=ERROR", "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	// checkov exits 1 when a check failed; anything else, or output that is not its JSON, is an error.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return Report{}, fmt.Errorf("checkov %s %s: %w\n%s", framework, dir, err, tail(stderr.String()))
	}
	return parse(stdout.Bytes(), dir)
}

type output struct {
	Summary struct {
		Passed  int `json:"passed"`
		Skipped int `json:"skipped"`
	} `json:"summary"`
	Results struct {
		Failed []result `json:"failed_checks"`
	} `json:"results"`
}

type result struct {
	CheckID   string `json:"check_id"`
	CheckName string `json:"check_name"`
	Resource  string `json:"resource"`
	FilePath  string `json:"file_path"`
	LineRange []int  `json:"file_line_range"`
}

func parse(data []byte, dir string) (Report, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || bytes.Equal(data, []byte("[]")) {
		return Report{}, nil
	}
	var outs []output
	if data[0] == '{' {
		var o output
		if err := json.Unmarshal(data, &o); err != nil {
			return Report{}, fmt.Errorf("checkov output over %s: %w", dir, err)
		}
		outs = []output{o}
	} else if err := json.Unmarshal(data, &outs); err != nil {
		return Report{}, fmt.Errorf("checkov output over %s: %w", dir, err)
	}
	var r Report
	conv := func(in result) Finding {
		f := Finding{Check: in.CheckID, Name: in.CheckName, Resource: in.Resource, File: strings.TrimPrefix(in.FilePath, "/")}
		if len(in.LineRange) > 0 {
			f.Line = in.LineRange[0]
		}
		return f
	}
	for _, o := range outs {
		r.Passed += o.Summary.Passed
		r.Skipped += o.Summary.Skipped
		for _, f := range o.Results.Failed {
			r.Failed = append(r.Failed, conv(f))
		}
	}
	sort.Slice(r.Failed, func(i, j int) bool {
		if r.Failed[i].File != r.Failed[j].File {
			return r.Failed[i].File < r.Failed[j].File
		}
		return r.Failed[i].Line < r.Failed[j].Line
	})
	return r, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
