// Package engine acts on a cluster for the checks and the scenarios, and observes what really happened: it
// installs the CRDs and the charts, creates the workflow manifests, runs probe workloads for every pod template
// the platform declares, waits until the real scheduler's decisions settle (placed, Pending and why, preempted),
// and scales GPU node groups within their max size. It never judges: it reports what it did and saw (Deployment,
// one AppDeploy per Application, from Helm or Argo CD; CRDInstall; WorkflowApply; the probes' placements), and
// package check turns that into results (check.Deploy, CRDs, Workflows, ...).
package engine

import (
	"fmt"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cluster"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// Charts says where upstream charts come from, in order: Dir (unpacked, <Dir>/<chart>), then, with Fetch, the
// chart repositories the Applications name (pulled into Cache by name and version). A chart found in neither is
// skipped with the reason, never passed.
type Charts struct {
	Dir   string
	Fetch bool
	Cache string
}

// Env is the one environment every step of a run shares: the platform model, the started cluster (nil for a
// static run), its clients, where upstream charts and generated CRDs come from.
type Env struct {
	Platform *platform.Platform
	Cluster  cluster.Cluster
	Charts   Charts
	// CRDsDir holds the CRDs tools/crdgen generated (make crds); empty skips their install.
	CRDsDir string

	rest      *rest.Config
	clientset kubernetes.Interface
	// charts are the resolved charts by Application name (resolved once per run).
	charts   map[string]chart
	chartsMu sync.Mutex
	// installed holds, per upstream Application whose chart was installed, the workloads of its objects.
	installed map[string][]deploy.Workload
	// tracked is what the probes step watches (probes and installed charts' pods).
	tracked *tracked
	// rendered are the upstream charts rendered without a cluster (once per run), renderSkipped those that could
	// not be.
	renderOnce    sync.Once
	rendered      []Rendered
	renderSkipped []string
	// karpenter is the Karpenter StartKarpenter started (nil: none).
	karpenter *karpenterRun
	// awsAhead is the AWS side of the Karpenter AWS provider started ahead of it (PrepareKarpenterAWS), until
	// StartKarpenter takes it or StopKarpenter stops it.
	awsAhead *awsAhead
	// lock is the repository's chart lock file (helm/charts.lock): pulled archives must match it.
	lock *deploy.Lock
}

// NewEnv builds the environment and, when c is not nil, its clients.
func NewEnv(p *platform.Platform, c cluster.Cluster, charts Charts, crdsDir string) (*Env, error) {
	e := &Env{Platform: p, Cluster: c, Charts: charts, CRDsDir: crdsDir, lock: p.ChartLock}
	if e.lock == nil {
		e.lock = &deploy.Lock{}
	}
	if c == nil {
		return e, nil
	}
	return e, e.Reconnect()
}

// Reconnect rebuilds the clients from the cluster's current client configuration (after a control plane
// restarted with new certificates and port: an in-place upgrade).
func (e *Env) Reconnect() error {
	e.rest = e.Cluster.RESTConfig()
	// Probe pods do not meet the namespaces' warn-level Pod Security profile; that is not news.
	e.rest.WarningHandler = rest.NoWarnings{}
	// A test cluster answers as fast as it can: the client's default rate limit (5 qps, burst 10) would make the
	// harness wait on itself, and a wait on the limiter fails a deadline that the cluster would have met.
	if e.rest.QPS == 0 {
		e.rest.QPS, e.rest.Burst = 200, 400
	}
	cs, err := kubernetes.NewForConfig(e.rest)
	if err != nil {
		return fmt.Errorf("client for the cluster: %w", err)
	}
	e.clientset = cs
	return nil
}

// REST is the cluster's client configuration (a copy).
func (e *Env) REST() *rest.Config { return rest.CopyConfig(e.rest) }

// Clientset is the cluster's typed client.
func (e *Env) Clientset() kubernetes.Interface { return e.clientset }

// Scaler is the cluster's Scaler, when its backend has one.
func (e *Env) Scaler() (cluster.Scaler, bool) {
	return cluster.AsScaler(e.Cluster)
}
