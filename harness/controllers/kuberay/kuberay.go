// Package kuberay runs the real KubeRay operator's reconcilers (tools/kuberay: ray-operator at the version the
// platform's kuberay-operator chart installs, built unmodified in its own module) against a cluster, with the Ray
// dashboard and Serve clients pointed at a local Ray head. The process is supervised (internal/proc): it is ready
// once its /readyz answers (the manager's caches synced) and a death during the run ends it, named.
package kuberay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// Verdict is KubeRay's validation of one Ray object (tools/kuberay --validate): Reason is the event its reconciler
// records (InvalidRayJobSpec, …) and Message the validation's words; both empty when the object is valid; Skipped
// says why KubeRay would not judge it.
type Verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	Skipped   string `json:"skipped,omitempty"`
}

// Validate runs KubeRay's own validation (the checks each reconciler makes before it creates anything) on objs,
// RayClusters, RayJobs and RayServices as the API server returns them (CRD defaults applied). gates are the
// operator's --feature-gates value ("" for its defaults).
func Validate(ctx context.Context, binary, gates string, objs []map[string]any) ([]Verdict, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, fmt.Errorf("%s: run `make kuberay`: %w", binary, err)
	}
	in, err := json.Marshal(objs)
	if err != nil {
		return nil, err
	}
	args := []string{"--validate"}
	if gates != "" {
		args = append(args, "--feature-gates", gates)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := proc.Command(ctx, binary, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s --validate: %w: %s", binary, err, strings.TrimSpace(stderr.String()))
	}
	var out []Verdict
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("%s --validate: its answer: %w", binary, err)
	}
	if len(out) != len(objs) {
		return nil, fmt.Errorf("%s --validate: %d answers for %d objects", binary, len(out), len(objs))
	}
	return out, nil
}
