package kind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/shape"
)

// DefaultNodeImage is the kind node image used unless Config.NodeImage says otherwise.
const DefaultNodeImage = "kindest/node:v1.35.0"

// Config configures a kind cluster.
type Config struct {
	Shape     *shape.Shape
	NodeImage string
	// RunDir is where the kubeconfig is written; default os.TempDir().
	RunDir string
}

// Cluster is a kind cluster shaped like the Terraform node groups.
type Cluster struct {
	cfg        Config
	provider   *kindcluster.Provider
	mu         sync.Mutex
	created    bool
	dir        string
	kubeconfig string
	rest       *rest.Config
}

// New validates cfg.
func New(cfg Config) (*Cluster, error) {
	if cfg.Shape == nil {
		return nil, errors.New("kind: Config.Shape is required")
	}
	if cfg.NodeImage == "" {
		cfg.NodeImage = DefaultNodeImage
	}
	if cfg.RunDir == "" {
		cfg.RunDir = os.TempDir()
	}
	return &Cluster{cfg: cfg}, nil
}

// CheckDocker fails at once, with the reason, when no Docker engine answers.
func CheckDocker(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := proc.Command(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the kind backend needs a running Docker engine, and `docker info` failed (%v): %s; use --backend embedded (no Docker needed)",
			err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Shape returns the node layout.
func (c *Cluster) Shape() *shape.Shape { return c.cfg.Shape.Clone() }

// RESTConfig returns an admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// Kubeconfig returns the admin kubeconfig path.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Start creates the kind cluster, waits for its nodes, then applies labels kind cannot set and GPU capacity.
func (c *Cluster) Start(ctx context.Context) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := CheckDocker(ctx); err != nil {
		return err
	}
	kc, err := ClusterConfig(c.cfg.Shape, c.cfg.NodeImage)
	if err != nil {
		return err
	}
	if c.dir, err = os.MkdirTemp(c.cfg.RunDir, "harness-kind-"); err != nil {
		return fmt.Errorf("create run directory: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stopLocked())
		}
	}()
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	c.provider = kindcluster.NewProvider()
	c.created = true
	if err := c.provider.Create(kc.Name, kindcluster.CreateWithV1Alpha4Config(kc),
		kindcluster.CreateWithKubeconfigPath(c.kubeconfig), kindcluster.CreateWithWaitForReady(5*time.Minute),
		kindcluster.CreateWithDisplayUsage(false), kindcluster.CreateWithDisplaySalutation(false)); err != nil {
		return fmt.Errorf("create kind cluster %s: %w", kc.Name, err)
	}
	if c.rest, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig); err != nil {
		return fmt.Errorf("load kind kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return err
	}
	return advertiseGPUs(ctx, cs, c.cfg.Shape)
}

// advertiseGPUs patches nvidia.com/gpu capacity onto the workers of GPU node groups, as the NVIDIA device
// plugin would on EKS.
func advertiseGPUs(ctx context.Context, cs kubernetes.Interface, s *shape.Shape) error {
	for _, g := range s.Groups {
		if !g.Instance.GPU() {
			continue
		}
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: shape.LabelNodeGroup + "=" + g.Name})
		if err != nil {
			return fmt.Errorf("list %s nodes: %w", g.Name, err)
		}
		gpus := fmt.Sprint(g.Instance.GPUs)
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{
			"capacity":    map[corev1.ResourceName]string{gpu.Resource: gpus},
			"allocatable": map[corev1.ResourceName]string{gpu.Resource: gpus},
		}})
		for _, n := range list.Items {
			if _, err := cs.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
				return fmt.Errorf("advertise GPUs on %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

// Stop deletes the kind cluster and the run directory. Safe to call twice.
func (c *Cluster) Stop(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *Cluster) stopLocked() error {
	var errs []error
	if c.created {
		if err := c.provider.Delete(c.cfg.Shape.ClusterName, c.kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("delete kind cluster: %w", err))
		}
		c.created = false
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
		c.dir = ""
	}
	return errors.Join(errs...)
}

// Emulated is true: the nodes are containers on one machine and their GPUs are patched onto node status.
func (c *Cluster) Emulated() bool { return true }
