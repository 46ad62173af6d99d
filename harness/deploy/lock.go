package deploy

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"sigs.k8s.io/yaml"
)

// LockFile is where `harness charts pull` records the upstream charts it pulled, relative to the repository.
const LockFile = "helm/charts.lock"

// Lock records, per upstream chart the Applications pin, where it came from and the sha256 of its archive; later
// pulls must produce the same archive.
type Lock struct {
	Charts []LockedChart `json:"charts"`
}

// LockedChart is one pinned chart.
type LockedChart struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Repo    string `json:"repository"`
	SHA256  string `json:"sha256"`
}

// ReadLock reads a lock file; a missing one is an empty lock.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Lock{}, nil
	}
	if err != nil {
		return nil, err
	}
	l := &Lock{}
	if err := yaml.UnmarshalStrict(data, l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Digest is the locked sha256 of chart at version from repo, or "".
func (l *Lock) Digest(repo, chart, version string) string {
	for _, c := range l.Charts {
		if c.Name == chart && c.Version == version && c.Repo == repo {
			return c.SHA256
		}
	}
	return ""
}

// Set records a chart's digest, replacing an entry for the same chart, version and repository. An empty
// digest is never recorded (it would switch verification off).
func (l *Lock) Set(c LockedChart) {
	if c.SHA256 == "" {
		return
	}
	for i := range l.Charts {
		if l.Charts[i].Name == c.Name && l.Charts[i].Repo == c.Repo && l.Charts[i].Version == c.Version {
			l.Charts[i] = c
			return
		}
	}
	l.Charts = append(l.Charts, c)
}

// Write writes the lock file, sorted by chart name.
func (l *Lock) Write(path string) error {
	sort.Slice(l.Charts, func(i, j int) bool {
		if l.Charts[i].Name != l.Charts[j].Name {
			return l.Charts[i].Name < l.Charts[j].Name
		}
		return l.Charts[i].Version < l.Charts[j].Version
	})
	data, err := yaml.Marshal(l)
	if err != nil {
		return err
	}
	header := "# Written by `harness charts pull`: the upstream charts the Applications pin, and the sha256 of each\n# archive. Pulls verify it; change it only by pulling again after changing a targetRevision.\n"
	return os.WriteFile(path, append([]byte(header), data...), 0o644)
}
