package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// clusterFlags are the flags every command that needs a cluster shares.
type clusterFlags struct {
	env, backend, kubeconfig, root, runDir string
	keep                                   bool
	// preAdvertisedGPUs: GPU nodes advertise GPUs without a device plugin (--pre-advertise-gpus, or a scenario's
	// preAdvertisedGPUs).
	preAdvertisedGPUs bool
	// fromSnapshot starts the cluster from a snapshot directory (a scenario forking harness check's deploy).
	fromSnapshot string
	// out is where progress goes (nil: standard output); scenarios run at once each write to their own.
	out io.Writer
}

// stdout is where the run's progress lines go.
func (f *clusterFlags) stdout() io.Writer {
	if f.out == nil {
		return os.Stdout
	}
	return f.out
}

// forkFacts are the cluster options a deploy snapshot is only valid for (beside engine.DeployKey's inputs).
func (f *clusterFlags) forkFacts() []string {
	return []string{"backend " + f.backend, fmt.Sprintf("pre-advertised-gpus %t", f.preAdvertisedGPUs)}
}

func (f *clusterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.env, "env", "local", "environment: terraform/env/<env>.tfvars shapes the cluster")
	fs.StringVar(&f.backend, "backend", cluster.Embedded, "cluster backend: "+backendNames())
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "existing backend: the cluster's kubeconfig; others: also write the admin kubeconfig here")
	fs.StringVar(&f.root, "root", ".", "repository root: terraform/, helm/ and workflows/ are read from here, once")
	fs.StringVar(&f.runDir, "run-dir", "", "parent directory for run state (default: the system temp dir)")
	fs.BoolVar(&f.preAdvertisedGPUs, "pre-advertise-gpus", false, "embedded: GPU nodes advertise nvidia.com/gpu from the start (default: only while an NVIDIA device plugin pod runs on them, as on EKS)")
	fs.BoolVar(&f.keep, "keep", os.Getenv("HARNESS_KEEP") == "1", "keep the cluster's run directory (component logs, kubeconfig) and print its path (also HARNESS_KEEP=1)")
}

// load builds the platform model of env once; every later step reads it.
func (f *clusterFlags) load(env string) (*platform.Platform, error) {
	return platform.Load(f.root, env)
}

// start builds the cluster the flags ask for from the platform's shape and starts it with a progress line,
// returning how long the start took and a stop function that prints its own line. A failed start has already
// undone itself. stop(failed) keeps the run directory when the run failed (or --keep) and prints its path.
func (f *clusterFlags) start(ctx context.Context, p *platform.Platform) (cluster.Cluster, time.Duration, func(failed bool), error) {
	if b, _ := cluster.Lookup(f.backend); b.Capabilities.RunDir {
		removed, err := embedded.Sweep(f.runDir)
		for _, d := range removed {
			fmt.Fprintf(f.stdout(), "removed %s: left by a harness that was killed (its owner process is gone)\n", d)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "harness: sweeping stale run directories: %v\n", err)
		}
		pruned, err := embedded.PruneKept(f.runDir, embedded.MaxKeptRunDirs)
		for _, d := range pruned {
			fmt.Fprintf(f.stdout(), "removed %s: a kept run directory beyond the newest %d (harness clean removes them all)\n", d, embedded.MaxKeptRunDirs)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "harness: pruning kept run directories: %v\n", err)
		}
	}
	c, err := cluster.New(ctx, cluster.Config{Backend: f.backend, Shape: p.Shape, RunDir: f.runDir, Kubeconfig: f.kubeconfig, Keep: f.keep,
		PreAdvertisedGPUs: f.preAdvertisedGPUs, FromSnapshot: f.fromSnapshot})
	if errors.Is(err, cluster.ErrUnknownBackend) {
		return nil, 0, nil, fmt.Errorf("%w: --backend: %v", errUsage, err)
	}
	if err != nil {
		return nil, 0, nil, err
	}
	what := fmt.Sprintf("start %s cluster %s (%s; from %s)", f.backend, p.Shape.ClusterName, describe(p.Shape), p.Shaped())
	if f.fromSnapshot != "" {
		what = fmt.Sprintf("start %s cluster %s from the deploy snapshot %s", f.backend, p.Shape.ClusterName, f.fromSnapshot)
	}
	step := report.Begin(f.stdout(), what)
	err = c.Start(ctx)
	took := step.Elapsed()
	if err := step.End(err); err != nil {
		return nil, 0, nil, err
	}
	stop := func(failed bool) {
		kept := ""
		if k, ok := cluster.AsKeeper(c); ok && (failed || f.keep) {
			kept = k.Keep()
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = report.Begin(f.stdout(), "stop cluster").End(c.Stop(stopCtx))
		if kept != "" {
			fmt.Fprintf(f.stdout(), "run directory kept: %s (components.log, controlplane.out; kubeconfig and keys are 0600 in a 0700 directory: remove it when done)\n", kept)
		}
	}
	return c, took, stop, nil
}

// upState is what `harness up` records so that `harness down` can find it.
type upState struct {
	PID        int    `json:"pid"`
	Backend    string `json:"backend"`
	Kubeconfig string `json:"kubeconfig"`
}

func statePath(env string) string {
	return filepath.Join(os.TempDir(), "eks-mlops-harness-up-"+env+".json")
}

func runUp(ctx context.Context, args []string) error {
	var f clusterFlags
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	p, err := f.load(f.env)
	if err != nil {
		return err
	}
	c, took, stopCluster, err := f.start(ctx, p)
	if err != nil {
		return err
	}
	defer stopCluster(false)
	kubeconfig := c.Kubeconfig()
	if f.kubeconfig != "" && cluster.Of(c).Creates {
		if err := copyFile(kubeconfig, f.kubeconfig); err != nil {
			return err
		}
		defer os.Remove(f.kubeconfig)
		kubeconfig = f.kubeconfig
	}
	if err := writeState(f.env, upState{PID: os.Getpid(), Backend: f.backend, Kubeconfig: kubeconfig}); err != nil {
		return err
	}
	defer os.Remove(statePath(f.env))
	fmt.Printf("all %d nodes Ready in %.1fs\nkubeconfig: %s\n  kubectl --kubeconfig %s get nodes -L %s\nCtrl-C (or `harness down --env %s`) stops it.\n",
		len(c.Shape().Nodes()), took.Seconds(), kubeconfig, kubeconfig, shape.LabelNodeGroup, f.env)
	if cluster.Of(c).DevicePluginGPUs && !f.preAdvertisedGPUs {
		fmt.Println("GPU nodes advertise nvidia.com/gpu once an NVIDIA device plugin pod runs on them, as on EKS (--pre-advertise-gpus: from the start).")
	}
	<-ctx.Done()
	return nil
}

func describe(s *shape.Shape) string {
	out := ""
	for i, g := range s.Groups {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s: %d x %s", g.Name, g.DesiredSize, g.Instance.Name)
	}
	return out
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", to, err)
	}
	return nil
}

func writeState(env string, st upState) error {
	data, _ := json.Marshal(st)
	return os.WriteFile(statePath(env), data, 0o600)
}

func runDown(ctx context.Context, args []string) error {
	var env string
	fs := pflag.NewFlagSet("down", pflag.ContinueOnError)
	fs.StringVar(&env, "env", "local", "environment of the cluster to stop")
	if err := parse(fs, args); err != nil {
		return err
	}
	data, err := os.ReadFile(statePath(env))
	if os.IsNotExist(err) {
		fmt.Printf("no `harness up --env %s` is running\n", env)
		return nil
	}
	if err != nil {
		return err
	}
	var st upState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("read %s: %w", statePath(env), err)
	}
	p, err := os.FindProcess(st.PID)
	if err == nil {
		err = p.Signal(syscall.SIGTERM)
	}
	if err != nil {
		_ = os.Remove(statePath(env))
		fmt.Printf("process %d is gone; removed its state file\n", st.PID)
		return nil
	}
	step := report.Begin(os.Stdout, "stop harness up (pid "+strconv.Itoa(st.PID)+")")
	for {
		if _, err := os.Stat(statePath(env)); os.IsNotExist(err) {
			return step.End(nil)
		}
		select {
		case <-ctx.Done():
			return step.End(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if step.Elapsed() > 2*time.Minute {
			return step.End(fmt.Errorf("still running after 2m"))
		}
	}
}

// backendNames lists the backends for --backend's help.
func backendNames() string {
	var names []string
	for _, b := range cluster.Backends {
		names = append(names, b.Name)
	}
	return strings.Join(names, ", ")
}
