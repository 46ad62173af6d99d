package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/embedded"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/existing"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster/kind"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/report"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// clusterFlags are the flags every command that needs a cluster shares.
type clusterFlags struct {
	env, backend, kubeconfig, terraform, runDir string
	// applied, when set, is the shape the apply tier created; it replaces the static reading of terraform/.
	applied *shape.Shape
}

func (f *clusterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.env, "env", "local", "environment: terraform/env/<env>.tfvars shapes the cluster")
	fs.StringVar(&f.backend, "backend", "embedded", "cluster backend: embedded, kind or existing")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "existing backend: the cluster's kubeconfig; others: also write the admin kubeconfig here")
	fs.StringVar(&f.terraform, "terraform", "terraform", "Terraform root module that declares the node groups")
	fs.StringVar(&f.runDir, "run-dir", "", "parent directory for run state (default: the system temp dir)")
}

// newCluster reads the shape and builds the backend the flags ask for.
func (f *clusterFlags) newCluster(ctx context.Context) (cluster.Cluster, error) {
	s := f.applied
	if s == nil {
		var err error
		if s, err = shape.Load(f.terraform, f.env); err != nil {
			return nil, err
		}
	}
	switch f.backend {
	case "embedded":
		return embedded.New(embedded.Config{Shape: s, RunDir: f.runDir})
	case "kind":
		if err := kind.CheckDocker(ctx); err != nil {
			return nil, err
		}
		return kind.New(kind.Config{Shape: s, RunDir: f.runDir})
	case "existing":
		return existing.New(existing.Config{Shape: s, Kubeconfig: f.kubeconfig})
	default:
		return nil, fmt.Errorf("%w: --backend %q: want embedded, kind or existing", errUsage, f.backend)
	}
}

// start builds and starts the cluster the flags ask for with a progress line, returning how long the start took
// and a stop function that prints its own line. A failed start has already undone itself.
func (f *clusterFlags) start(ctx context.Context) (cluster.Cluster, time.Duration, func(), error) {
	c, err := f.newCluster(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	step := report.Begin(os.Stdout, fmt.Sprintf("start %s cluster %s (%s)", f.backend, c.Shape().ClusterName, describe(c.Shape())))
	err = c.Start(ctx)
	took := step.Elapsed()
	if err := step.End(err); err != nil {
		return nil, 0, nil, err
	}
	stop := func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = report.Begin(os.Stdout, "stop cluster").End(c.Stop(stopCtx))
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
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, took, stopCluster, err := f.start(ctx)
	if err != nil {
		return err
	}
	defer stopCluster()
	kubeconfig := c.Kubeconfig()
	if f.kubeconfig != "" && f.backend != "existing" {
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
