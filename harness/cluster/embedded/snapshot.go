package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	clientsnapshot "go.etcd.io/etcd/client/v3/snapshot"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Files of a snapshot directory, beside the PKI files (pkiFiles) and the shape (specFile).
const (
	etcdURLFile      = "etcd.url"
	snapshotDBFile   = "etcd.db"
	snapshotMetaFile = "cluster.json"
)

// pkiFiles are the run directory's certificates and keys: a fork keeps them, so the service-account tokens, the
// kube-root-ca.crt ConfigMaps and every client certificate stored in the snapshot stay valid.
var pkiFiles = []string{"ca.crt", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub"}

// snapshotMeta is what a snapshot records beside etcd's data.
type snapshotMeta struct {
	ControlPlaneVersion string          `json:"controlPlaneVersion,omitempty"`
	PreAdvertisedGPUs   bool            `json:"preAdvertisedGPUs"`
	Used                map[string]bool `json:"usedNodeNames,omitempty"`
	Taken               time.Time       `json:"taken"`
}

// Snapshot writes the running cluster's state to dir (created; it must not exist): etcd's data through etcd's own
// snapshot API (consistent while the cluster runs: every object, the nodes kwok emulates and their pods included),
// the certificates and keys, and the shape. A cluster started with Config.FromSnapshot = dir continues from it.
func (c *Cluster) Snapshot(ctx context.Context, dir string) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return errors.New("embedded: cluster not started")
	}
	url, err := os.ReadFile(filepath.Join(c.runDir, etcdURLFile))
	if err != nil {
		return fmt.Errorf("snapshot: etcd's address: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	cfg := clientv3.Config{Endpoints: []string{strings.TrimSpace(string(url))}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()}
	if _, err := clientsnapshot.SaveWithVersion(ctx, zap.NewNop(), cfg, filepath.Join(dir, snapshotDBFile)); err != nil {
		return fmt.Errorf("snapshot etcd: %w", err)
	}
	for _, f := range pkiFiles {
		if err := copyFile(filepath.Join(c.runDir, f), filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	spec, err := json.Marshal(c.shape)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, specFile), spec, 0o600); err != nil {
		return err
	}
	meta, err := json.Marshal(snapshotMeta{ControlPlaneVersion: c.cfg.ControlPlaneVersion, PreAdvertisedGPUs: c.cfg.PreAdvertisedGPUs,
		Used: c.used, Taken: time.Now().UTC()})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, snapshotMetaFile), meta, 0o600)
}

// restoreLocked fills the new run directory from the snapshot in from: etcd's data restored by etcd's own tool
// (etcdutl snapshot restore: a new single-member cluster holding the snapshot's keys), the certificates and the
// shape. The child then starts on it as after an in-place restart: it adopts the nodes it finds.
func (c *Cluster) restoreLocked(from string) error {
	var meta snapshotMeta
	data, err := os.ReadFile(filepath.Join(from, snapshotMetaFile))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("restore: %s: %w", filepath.Join(from, snapshotMetaFile), err)
	}
	if meta.PreAdvertisedGPUs != c.cfg.PreAdvertisedGPUs {
		return fmt.Errorf("restore: the snapshot in %s was taken with pre-advertised GPUs %t, this cluster wants %t", from, meta.PreAdvertisedGPUs, c.cfg.PreAdvertisedGPUs)
	}
	for _, f := range append([]string{specFile}, pkiFiles...) {
		if err := copyFile(filepath.Join(from, f), filepath.Join(c.runDir, f)); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	spec, err := os.ReadFile(filepath.Join(from, specFile))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var s shape.Shape
	if err := json.Unmarshal(spec, &s); err != nil {
		return fmt.Errorf("restore: %s: %w", filepath.Join(from, specFile), err)
	}
	if s.ClusterName != c.shape.ClusterName || s.KubernetesVersion != c.shape.KubernetesVersion {
		return fmt.Errorf("restore: the snapshot in %s is of cluster %s %s, not %s %s", from, s.ClusterName, s.KubernetesVersion, c.shape.ClusterName, c.shape.KubernetesVersion)
	}
	c.shape = &s
	c.used = meta.Used
	if meta.ControlPlaneVersion != "" {
		c.cfg.ControlPlaneVersion = meta.ControlPlaneVersion
	}
	err = snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:  filepath.Join(from, snapshotDBFile),
		Name:          etcdName,
		OutputDataDir: filepath.Join(c.runDir, "etcd"),
		// The member's peer address as startEtcd advertises it: one member on loopback, never dialled.
		PeerURLs:            []string{etcdPeerURL},
		InitialCluster:      etcdName + "=" + etcdPeerURL,
		InitialClusterToken: "etcd-cluster",
	})
	if err != nil {
		return fmt.Errorf("restore etcd from %s: %w", from, err)
	}
	c.restarts++ // the child adopts the nodes in etcd instead of registering the shape's
	return nil
}

// copyFile copies one of the run directory's small files (certificates, keys, shape), owner-only.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}
