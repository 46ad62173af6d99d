// Package kuberay runs the real KubeRay operator's reconcilers (tools/kuberay: ray-operator at the version the
// platform's kuberay-operator chart installs, built unmodified in its own module) against a cluster, with the Ray
// dashboard and Serve clients pointed at a local Ray head. The process is supervised (internal/proc): it is ready
// once its /readyz answers (the manager's caches synced) and a death during the run ends it, named.
package kuberay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// Config says what to run and where.
type Config struct {
	// Binary is tools/kuberay's build (make kuberay).
	Binary string
	// Kubeconfig reaches the cluster.
	Kubeconfig string
	// DashboardURL is the local Ray head's dashboard; ServeHost and ServePort its Serve proxy.
	DashboardURL string
	ServeHost    string
	ServePort    int
	// Dir receives kuberay.log.
	Dir string
	// Env is the operator's environment (nil: the harness's).
	Env []string
}

// Start starts the operator and waits until it is ready.
func Start(ctx context.Context, cfg Config) (*proc.Process, error) {
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("%s: run `make kuberay`: %w", cfg.Binary, err)
	}
	port, err := ports.Free()
	if err != nil {
		return nil, err
	}
	if cfg.ServeHost == "" {
		cfg.ServeHost = "127.0.0.1"
	}
	probe := "127.0.0.1:" + strconv.Itoa(port)
	return proc.Start(ctx, proc.Spec{Name: "kuberay", Path: cfg.Binary, Env: cfg.Env, Dir: cfg.Dir,
		Args: []string{"--kubeconfig", cfg.Kubeconfig, "--dashboard-url", cfg.DashboardURL, "--serve-host", cfg.ServeHost,
			"--serve-port", strconv.Itoa(cfg.ServePort), "--health-probe-address", probe},
		Log: filepath.Join(cfg.Dir, "kuberay.log"), PollInterval: 200 * time.Millisecond,
		Ready: proc.HTTPReady("http://" + probe + "/readyz")})
}
