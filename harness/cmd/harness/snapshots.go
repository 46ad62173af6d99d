package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/usercache"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Deploy once, fork many: `harness check` snapshots the cluster right after its deploy (before probes, Karpenter or
// the workload tier touch it), under the deploy's key (engine.DeployKey: a digest of everything the deploy read);
// a scenario whose first step deploys the same platform starts from that snapshot instead of deploying again. A
// changed file, chart, CRD or binary is another key: the scenario deploys itself.

// maxSnapshots is how many deploy snapshots the store keeps (the newest; ~14 MB each for the local platform).
const maxSnapshots = 3

// snapshotsOff turns the store off (--snapshots none).
const snapshotsOff = "none"

// deployRecord is what a snapshot records about the deploy it holds.
type deployRecord struct {
	Key   string    `json:"key"`
	Env   string    `json:"env"`
	Taken time.Time `json:"taken"`
	// How says who deployed ("synced by Argo CD", "installed by Helm"); Apps are the Applications it put on
	// the cluster.
	How  string   `json:"how"`
	Apps []string `json:"apps"`
	// Results are the deploy's verdicts (deploy/...), for a later check that reuses the deploy (--reuse-deploy).
	Results []result.Result `json:"results,omitempty"`
}

type snapshotStore struct{ dir string }

// defaultSnapshots is the store's place unless --snapshots says: $HARNESS_SNAPSHOTS ("none": off), else the user's
// cache, by the rule of the harness's other machine-wide stores (usercache). Without a user cache directory the
// store is off (scenarios deploy themselves): a store in the temporary directory would outlive the run.
func defaultSnapshots() string {
	if dir := usercache.Dir("HARNESS_SNAPSHOTS", "snapshots"); dir != "" {
		return dir
	}
	return snapshotsOff
}

func (s snapshotStore) off() bool { return s.dir == "" || s.dir == snapshotsOff }

// find returns the snapshot taken under key, if the store holds one.
func (s snapshotStore) find(key string) (dir string, rec deployRecord, ok bool) {
	if s.off() || key == "" {
		return "", rec, false
	}
	dir = filepath.Join(s.dir, key)
	data, err := os.ReadFile(filepath.Join(dir, "deploy.json"))
	if err != nil || json.Unmarshal(data, &rec) != nil || rec.Key != key {
		return "", rec, false
	}
	return filepath.Join(dir, "cluster"), rec, true
}

// save snapshots c into the store under rec.Key (replacing a snapshot of the same key) and keeps the newest
// maxSnapshots. The snapshot is written beside and renamed into place: a reader never sees half of one.
func (s snapshotStore) save(ctx context.Context, c cluster.Snapshotter, rec deployRecord) (err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.dir, ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := c.Snapshot(ctx, filepath.Join(tmp, "cluster")); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "deploy.json"), data, 0o600); err != nil {
		return err
	}
	final := filepath.Join(s.dir, rec.Key)
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return s.prune(maxSnapshots)
}

// prune removes all but the newest keep snapshots.
func (s snapshotStore) prune(keep int) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	type snap struct {
		path string
		at   time.Time
	}
	var snaps []snap
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		snaps = append(snaps, snap{filepath.Join(s.dir, e.Name()), info.ModTime()})
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].at.After(snaps[j].at) })
	var errs []error
	for i := keep; i < len(snaps); i++ {
		errs = append(errs, os.RemoveAll(snaps[i].path))
	}
	return errors.Join(errs...)
}

// snapshotAfterDeploy is check.Run.OnDeployed for a cluster that can be snapshot: when nothing in the deploy failed,
// the cluster is saved under key for the scenarios to fork. A failure to save is said, never a verdict.
func snapshotAfterDeploy(store snapshotStore, c cluster.Cluster, env, key string, argo *engine.ArgoCD) func(context.Context, []result.Result) {
	sn, ok := cluster.AsSnapshotter(c)
	if !ok || store.off() || key == "" {
		return nil
	}
	return func(ctx context.Context, rs []result.Result) {
		rec := deployRecord{Key: key, Env: env, Taken: time.Now().UTC(), How: deployedBy(argo)}
		for _, r := range rs {
			if r.Status == result.Failed {
				return
			}
			if name, ok := strings.CutPrefix(r.Name, "deploy/"); ok && r.Status == result.Passed && name != "platform-app" {
				rec.Apps = append(rec.Apps, name)
			}
			if strings.HasPrefix(r.Name, "deploy/") {
				rec.Results = append(rec.Results, r)
			}
		}
		t0 := time.Now()
		if err := store.save(ctx, sn, rec); err != nil {
			fmt.Printf(" · the deployed platform was not snapshot for the scenarios (they will deploy it themselves): %v\n", err)
			return
		}
		fmt.Printf(" · deployed platform snapshot in %s for the scenarios to fork (%s, key %s)\n", time.Since(t0).Round(time.Millisecond),
			filepath.Join(store.dir, key), key[:12])
	}
}

func deployedBy(argo *engine.ArgoCD) string {
	if argo == nil {
		return "installed by Helm"
	}
	return "synced by Argo CD"
}
