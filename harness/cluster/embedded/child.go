package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// Environment variables that turn a process into a control-plane child.
const (
	envRunDir  = "EKS_MLOPS_HARNESS_CONTROLPLANE"
	envKeepDir = "EKS_MLOPS_HARNESS_KEEP_RUN_DIR"
)

// Files in the run directory shared by parent and child.
const (
	specFile  = "shape.json"
	ownerFile = "owner.pid"
	keptFile  = "kept"
	readyFile = "ready"
	outFile   = "controlplane.out"
)

// RunIfControlPlane must be the first call in main (and in TestMain of test packages that start embedded
// clusters). In a process the harness started to host a control plane it runs that control plane and exits;
// everywhere else it returns at once.
//
// Each cluster gets its own process because kube-controller-manager and kube-scheduler register process-wide
// names (configz, informer metrics) that they never release: one process can host one control plane in its
// lifetime. A process also guarantees Stop leaves no goroutine behind.
func RunIfControlPlane() {
	dir := os.Getenv(envRunDir)
	if dir == "" {
		return
	}
	os.Exit(runChild(dir, os.Getenv(envKeepDir) != ""))
}

func runChild(dir string, keep bool) (code int) {
	parent := os.Getppid()
	// SIGTERM/SIGINT stay caught until this function returns: the parent's death brings both stdin EOF and
	// the Pdeathsig SIGTERM, and a signal arriving after the handler was dropped would kill the process before
	// it cleaned up.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stopSignals()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	parentGone := make(chan struct{})
	go func() {
		// The parent holds our stdin open; EOF means it is gone (even after SIGKILL).
		_, err := io.Copy(io.Discard, os.Stdin)
		fmt.Fprintf(os.Stderr, "stdin closed (%v): the harness is gone, stopping\n", err)
		close(parentGone)
		cancel()
	}()
	// On every way out — a failed start included — a child whose harness is gone removes the run directory
	// (certificates, admin key, kubeconfig, etcd data): nobody else is left to. A harness that is still there
	// removes it itself in Stop.
	defer func() {
		if keep {
			return
		}
		gone := os.Getppid() != parent // reparented: the harness died (SIGKILL included)
		select {
		case <-parentGone:
			gone = true
		default:
		}
		if gone {
			_ = os.RemoveAll(dir)
		}
	}()

	data, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		fmt.Fprintln(os.Stderr, "read shape:", err)
		return 1
	}
	var s shape.Shape
	if err := json.Unmarshal(data, &s); err != nil {
		fmt.Fprintln(os.Stderr, "decode shape:", err)
		return 1
	}
	cp := &controlPlane{dir: dir, shape: &s, preAdvertisedGPUs: os.Getenv(envPreAdvertisedGPUs) != "", version: s.KubernetesVersion}
	if v := os.Getenv(envControlPlaneVersion); v != "" {
		cp.version = v
	}
	cp.restart = os.Getenv(envRestart) != ""
	if err := cp.start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, readyFile), []byte(cp.rest.Host), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "write ready file:", err)
		_ = cp.stop(context.Background())
		return 1
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cp.stop(stopCtx); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		code = 1
	}
	return code
}
