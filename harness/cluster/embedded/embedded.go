package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/node"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Config configures an embedded cluster.
type Config struct {
	// Shape is the node layout; required.
	Shape *shape.Shape
	// RunDir is the parent directory of the cluster's run directory; default os.TempDir().
	RunDir string
	// KeepRunDir leaves the run directory (logs, kubeconfig) in place after Stop.
	KeepRunDir bool
	// Logger receives the harness's own progress logs; default discards.
	Logger *slog.Logger
	// StopTimeout bounds how long Stop waits for the control plane to exit; default 60s.
	StopTimeout time.Duration
	// Executable hosts the control plane; it must call RunIfControlPlane first thing. Default: this program.
	Executable string
	// PreAdvertisedGPUs makes GPU nodes advertise nvidia.com/gpu from the start. By default they advertise none
	// until a pod of an NVIDIA device plugin DaemonSet runs on them, as on EKS.
	PreAdvertisedGPUs bool
	// ControlPlaneVersion ("1.36") is the minor the control plane emulates (--emulated-version); default the
	// shape's cluster version (Terraform's cluster_version), which the nodes' kubelets report either way. The
	// rehearsal sets the target: the cluster as it is once EKS has upgraded the control plane and before the node
	// groups are rolled.
	ControlPlaneVersion string
	// FromSnapshot, when set, is a directory Cluster.Snapshot wrote: the cluster starts as a fork of the cluster
	// it was taken from (its objects, nodes and pods, certificates and shape) instead of registering Shape's nodes
	// on an empty etcd. Shape's cluster name and version must match the snapshot's.
	FromSnapshot string
}

// Cluster is a control plane in a child process with kwok-simulated nodes.
type Cluster struct {
	cfg   Config
	log   *slog.Logger
	shape *shape.Shape

	mu         sync.Mutex
	runDir     string
	kubeconfig string
	rest       *rest.Config
	client     kubernetes.Interface
	proc       *proc.Process
	// restarts counts control-plane restarts (UpgradeControlPlane): a restarted child adopts the nodes it finds.
	restarts int
	// used node names: a replacement node never reuses a lost node's name.
	used map[string]bool
}

// New validates cfg and returns a cluster that is not started yet.
func New(cfg Config) (*Cluster, error) {
	if cfg.Shape == nil {
		return nil, errors.New("embedded: Config.Shape is required")
	}
	if len(cfg.Shape.Groups) == 0 {
		return nil, errors.New("embedded: the shape has no node groups")
	}
	if cfg.RunDir == "" {
		cfg.RunDir = os.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = time.Minute
	}
	if cfg.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("embedded: find this program to host the control plane: %w", err)
		}
		cfg.Executable = exe
	}
	return &Cluster{cfg: cfg, log: cfg.Logger, shape: cfg.Shape.Clone()}, nil
}

// Shape returns the current node layout (scaled groups included).
func (c *Cluster) Shape() *shape.Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shape.Clone()
}

// RESTConfig returns an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Kubeconfig returns the admin kubeconfig path.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RunDir returns the run directory: kubeconfig, certificates, etcd data, components.log, controlplane.out.
func (c *Cluster) RunDir() string { return c.runDir }

// Start runs the control plane in a child process (see RunIfControlPlane), and returns when all the shape's
// nodes are Ready. On failure it stops whatever it started.
func (c *Cluster) Start(ctx context.Context) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runDir != "" {
		return errors.New("embedded: cluster already started")
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stopLocked(context.WithoutCancel(ctx)))
		}
	}()
	if err := os.MkdirAll(c.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", c.cfg.RunDir, err)
	}
	if c.runDir, err = os.MkdirTemp(c.cfg.RunDir, "harness-"+c.shape.ClusterName+"-"); err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	// The owner file lets a later run find this directory if this process is killed before it can clean up.
	if err := os.WriteFile(filepath.Join(c.runDir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return fmt.Errorf("write owner: %w", err)
	}
	spec, err := json.Marshal(c.shape)
	if err != nil {
		return fmt.Errorf("encode shape: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.runDir, specFile), spec, 0o600); err != nil {
		return fmt.Errorf("write shape: %w", err)
	}
	if c.cfg.FromSnapshot != "" {
		if err := c.restoreLocked(c.cfg.FromSnapshot); err != nil {
			return err
		}
	}
	return c.launchLocked(ctx)
}

// launchLocked starts the control-plane child on the run directory, supervised (internal/proc: its death
// after the start cancels a supervised run's context), and waits until it is ready; the clients are (re)built
// from the kubeconfig it writes.
func (c *Cluster) launchLocked(ctx context.Context) (err error) {
	// The control plane's collector tuned (internal/proc.GCPercent), under a 2.5 GiB soft limit.
	env := append(proc.GCTuned(os.Environ(), "2500MiB"), envRunDir+"="+c.runDir)
	if c.cfg.KeepRunDir {
		env = append(env, envKeepDir+"=1")
	}
	if c.cfg.PreAdvertisedGPUs {
		env = append(env, envPreAdvertisedGPUs+"=1")
	}
	if c.cfg.ControlPlaneVersion != "" {
		env = append(env, envControlPlaneVersion+"="+c.cfg.ControlPlaneVersion)
	}
	if c.restarts > 0 {
		env = append(env, envRestart+"=1")
	}
	ready := filepath.Join(c.runDir, readyFile)
	c.log.Debug("start control plane", "exe", c.cfg.Executable, "dir", c.runDir)
	// Its own process group: Ctrl-C reaches the harness, which stops the child in order; the parent-death signal
	// (SIGTERM: an orderly stop) covers a harness that dies without stopping it. The child watches its stdin too.
	c.proc, err = proc.Start(ctx, proc.Spec{Name: "control plane", Path: c.cfg.Executable, Env: env,
		Log: filepath.Join(c.runDir, outFile), Append: true, Stdin: true, ParentDeath: syscall.SIGTERM,
		StartTimeout: 5 * time.Minute, StopTimeout: c.cfg.StopTimeout, PollInterval: 20 * time.Millisecond,
		Ready: func(context.Context) error {
			if _, err := os.Stat(ready); err != nil {
				return proc.ErrNotYet
			}
			return nil
		}})
	if err != nil {
		return err
	}
	c.kubeconfig = filepath.Join(c.runDir, "kubeconfig")
	if c.rest, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig); err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	c.rest.QPS, c.rest.Burst = 1000, 2000
	c.client, err = kubernetes.NewForConfig(c.rest)
	return err
}

// Stop stops the control-plane process (SIGTERM, then SIGKILL after StopTimeout) and removes the run
// directory. Safe to call twice.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked(ctx)
}

func (c *Cluster) stopLocked(ctx context.Context) error {
	errs := []error{c.stopProcessLocked(ctx)}
	if c.runDir != "" && !c.cfg.KeepRunDir {
		if err := os.RemoveAll(c.runDir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.runDir != "" && c.cfg.KeepRunDir {
		// Kept on purpose: a later run's Sweep leaves it alone.
		_ = os.WriteFile(filepath.Join(c.runDir, keptFile), nil, 0o600)
	}
	return errors.Join(errs...)
}

// stopProcessLocked stops the control-plane child (SIGTERM, then SIGKILL after StopTimeout); the run directory
// stays. A child that had exited on its own is reported with its status and log.
func (c *Cluster) stopProcessLocked(context.Context) error {
	if c.proc == nil {
		return nil
	}
	err := c.proc.Stop()
	c.proc = nil
	return err
}

// UpgradeControlPlane upgrades the control plane in place to minor version ("1.36"), as EKS's
// UpdateClusterVersion does: the control-plane process stops and starts again at that --emulated-version on the
// same etcd data; the nodes and everything on the cluster stay (kwok takes the nodes over again, their kubelets
// still at the old version until their group is rolled). EKS moves one minor at a time, and so does this. The
// kubeconfig is rewritten (new certificates and port): take RESTConfig again afterwards.
func (c *Cluster) UpgradeControlPlane(ctx context.Context, version string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return errors.New("embedded: cluster not started")
	}
	cur := c.cfg.ControlPlaneVersion
	if cur == "" {
		cur = c.shape.KubernetesVersion
	}
	if !nextMinor(cur, version) {
		return fmt.Errorf("control plane %s -> %s: EKS upgrades one minor at a time", cur, version)
	}
	if err := c.stopProcessLocked(ctx); err != nil {
		return fmt.Errorf("stop the %s control plane: %w", cur, err)
	}
	_ = os.Remove(filepath.Join(c.runDir, readyFile))
	c.cfg.ControlPlaneVersion = version
	c.restarts++
	if err := c.launchLocked(ctx); err != nil {
		return fmt.Errorf("start the %s control plane on %s's data: %w", version, cur, err)
	}
	return nil
}

// ControlPlaneVersion is the minor the control plane serves.
func (c *Cluster) ControlPlaneVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.ControlPlaneVersion != "" {
		return c.cfg.ControlPlaneVersion
	}
	return c.shape.KubernetesVersion
}

func nextMinor(from, to string) bool {
	f, errF := strconv.Atoi(strings.TrimPrefix(from, "1."))
	t, errT := strconv.Atoi(strings.TrimPrefix(to, "1."))
	return errF == nil && errT == nil && strings.HasPrefix(from, "1.") && strings.HasPrefix(to, "1.") && t == f+1
}

// PeakRSSBytes is the control-plane process's peak resident set size (VmHWM), while it runs.
func (c *Cluster) PeakRSSBytes() (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0, errors.New("control plane not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.proc.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// ScaleGroup sets a node group's size: it adds nodes under names never used before in this cluster (a
// replaced instance is a new node) or deletes the newest ones.
func (c *Cluster) ScaleGroup(ctx context.Context, group string, size int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.shape.Group(group)
	if !ok {
		return fmt.Errorf("scale %s: no such node group", group)
	}
	if size < 0 || size > g.MaxSize {
		return fmt.Errorf("scale %s to %d: outside 0..max_size (%d)", group, size, g.MaxSize)
	}
	list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: shape.LabelNodeGroup + "=" + group})
	if err != nil {
		return fmt.Errorf("list %s nodes: %w", group, err)
	}
	// Names the group had before this call are used; marked before the size changes, so 1 -> 3 adds gpu-1, gpu-2.
	if c.used == nil {
		c.used = map[string]bool{}
	}
	for _, n := range c.shape.Nodes() {
		c.used[n.Name] = true
	}
	g.DesiredSize = size
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
		c.used[n.Name] = true
	}
	sort.Slice(names, func(a, b int) bool { return nodeIndex(names[a]) < nodeIndex(names[b]) })
	var added []shape.Node
	for i := 0; len(names)+len(added) < size; i++ {
		if c.used[shape.NodeName(group, i)] {
			continue
		}
		n, _ := c.shape.GroupNode(group, i)
		c.used[n.Name] = true
		added = append(added, n)
	}
	if len(added) > 0 {
		if !c.cfg.PreAdvertisedGPUs {
			added = withoutGPUs(added) // the device plugin's DaemonSet, once it runs there, advertises them
		}
		if err := node.CreateNodes(ctx, c.client, added, map[string]string{kwokAnnotation: "fake"}); err != nil {
			return err
		}
		var newNames []string
		for _, n := range added {
			newNames = append(newNames, n.Name)
		}
		return node.WaitNamedNodesReady(ctx, c.client, newNames)
	}
	for len(names) > size {
		if err := c.deleteNode(ctx, names[len(names)-1]); err != nil {
			return err
		}
		names = names[:len(names)-1]
	}
	return nil
}

func nodeIndex(name string) int {
	i := strings.LastIndexByte(name, '-')
	n, _ := strconv.Atoi(name[i+1:])
	return n
}

// RemoveNode deletes a node as if its EC2 instance were terminated.
func (c *Cluster) RemoveNode(ctx context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteNode(ctx, name)
}

func (c *Cluster) deleteNode(ctx context.Context, name string) error {
	err := c.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}

// Emulated is true: kwok simulates the kubelets, nothing runs on the nodes.
func (c *Cluster) Emulated() bool { return true }

// Sweep removes the run directories under parent (default the system temp dir) that a harness process left
// behind when it was killed before it could clean up: those whose owner process is gone, unless they were kept
// on purpose (--keep). It returns the directories it removed.
func Sweep(parent string) ([]string, error) {
	dirs, err := runDirs(parent)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // not ours, or still being created
		}
		if _, err := os.Stat(filepath.Join(d, keptFile)); err == nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Keep makes Stop leave the run directory in place (component logs, kubeconfig, certificates: 0600 files in a
// 0700 directory) and returns its path; the harness calls it when a run failed, so the failure can be debugged.
func (c *Cluster) Keep() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.KeepRunDir = true
	return c.runDir
}

// SurgeGroup adds n nodes to a group whose kubelets report kubeletVersion (v1.36.0), under names never used
// before, beyond max_size if need be — as an EKS managed node group update launches its surge instances from the
// new launch template version (EKS raises the Auto Scaling group's maximum for the update) — and waits until they
// are Ready. It returns their names; the group's desired size is unchanged (the old nodes are removed next).
func (c *Cluster) SurgeGroup(ctx context.Context, group string, n int, kubeletVersion string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.shape.Group(group); !ok {
		return nil, fmt.Errorf("surge %s: no such node group", group)
	}
	list, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: shape.LabelNodeGroup + "=" + group})
	if err != nil {
		return nil, fmt.Errorf("list %s nodes: %w", group, err)
	}
	if c.used == nil {
		c.used = map[string]bool{}
	}
	for _, nd := range c.shape.Nodes() {
		c.used[nd.Name] = true
	}
	for _, nd := range list.Items {
		c.used[nd.Name] = true
	}
	var added []shape.Node
	for i := 0; len(added) < n; i++ {
		if c.used[shape.NodeName(group, i)] {
			continue
		}
		nd, _ := c.shape.GroupNode(group, i)
		nd.KubeletVersion = kubeletVersion
		c.used[nd.Name] = true
		added = append(added, nd)
	}
	if !c.cfg.PreAdvertisedGPUs {
		added = withoutGPUs(added)
	}
	if err := node.CreateNodes(ctx, c.client, added, map[string]string{kwokAnnotation: "fake"}); err != nil {
		return nil, err
	}
	var names []string
	for _, nd := range added {
		names = append(names, nd.Name)
	}
	return names, node.WaitNamedNodesReady(ctx, c.client, names)
}

// MarkOwned marks dir (named harness-* under the temp dir) as this process's run directory, so that Sweep removes
// it once this process is gone without cleaning up (a SIGKILL).
func MarkOwned(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// KeptRunDirs lists the run directories under parent (default the system temp dir) kept on purpose (a failed
// run, --keep) whose owner process has exited, newest first.
func KeptRunDirs(parent string) ([]string, error) {
	dirs, err := runDirs(parent)
	if err != nil {
		return nil, err
	}
	type kept struct {
		dir string
		at  time.Time
	}
	var ks []kept
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		st, err := os.Stat(filepath.Join(d, keptFile))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 && processAlive(pid) {
			continue
		}
		ks = append(ks, kept{d, st.ModTime()})
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].at.After(ks[j].at) })
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.dir
	}
	return out, nil
}

// MaxKeptRunDirs is how many kept run directories a new run leaves in place (75-150 MB each): older ones go.
const MaxKeptRunDirs = 3

// PruneKept removes the kept run directories under parent beyond the newest keep ones (0: all of them; `harness
// clean`) and returns what it removed.
func PruneKept(parent string, keep int) ([]string, error) {
	dirs, err := KeptRunDirs(parent)
	if err != nil || len(dirs) <= keep {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, d := range dirs[keep:] {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, d)
	}
	return removed, errors.Join(errs...)
}

// runDirs are the harness run directories under parent (default the system temp dir).
func runDirs(parent string) ([]string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	return filepath.Glob(filepath.Join(parent, "harness-*"))
}
