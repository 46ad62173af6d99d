// Command kuberay runs KubeRay's own reconcilers (RayCluster, RayJob, RayService) from the ray-operator module at
// the version the platform installs, unmodified, against a cluster whose pods are not real processes (the harness's
// embedded control plane with kwok nodes). It is its own Go module (tools/kuberay) so that KubeRay's dependency
// graph stays out of the harness's; the harness builds it on first use and runs it as a process.
//
// The one difference from the operator's own main: the Ray dashboard and Serve proxy that KubeRay would reach on the
// head pod's IP are a Ray head running on the harness's loopback (--dashboard-url, --serve-addr), because kwok's pods
// run no containers. Everything else — what the reconcilers create, which states they move through, what they submit
// to the dashboard — is KubeRay's. No leader election, no webhooks, metrics and probes off (no listening ports).
//
// With --validate it reconciles nothing: it answers, for Ray objects read on stdin, what the reconcilers'
// validation (the first thing each does) says of them (validate.go).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	k8szap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/dashboardclient"
)

// loopback points KubeRay's dashboard and Serve proxy clients at the local Ray head.
type loopback struct {
	dashboardURL string
	serveHost    string
	servePort    int
}

func (l loopback) GetDashboardClient(manager.Manager) func(*rayv1.RayCluster, string) (dashboardclient.RayDashboardClientInterface, error) {
	return func(*rayv1.RayCluster, string) (dashboardclient.RayDashboardClientInterface, error) {
		c := &dashboardclient.RayDashboardClient{}
		c.InitClient(&http.Client{Timeout: 2 * time.Second}, l.dashboardURL)
		return c, nil
	}
}

func (l loopback) GetHttpProxyClient(mgr manager.Manager) func(string, string, string, int) utils.RayHttpProxyClientInterface {
	upstream := utils.GetRayHttpProxyClientFunc(mgr, false)
	return func(_, namespace, pod string, _ int) utils.RayHttpProxyClientInterface {
		return upstream(l.serveHost, namespace, pod, l.servePort)
	}
}

func main() {
	dashboard := flag.String("dashboard-url", "http://127.0.0.1:8265", "the local Ray head's dashboard")
	serveHost := flag.String("serve-host", "127.0.0.1", "the local Ray head's Serve proxy host")
	servePort := flag.Int("serve-port", 8000, "the local Ray head's Serve proxy port")
	probe := flag.String("health-probe-address", "0", "where /readyz answers once the manager's caches have synced (127.0.0.1:PORT; 0: off)")
	gates := flag.String("feature-gates", "", "the operator's feature gates (name=true,…), as the chart's featureGates render them")
	validateOnly := flag.Bool("validate", false, "read a JSON array of Ray objects on stdin and print, as JSON, what KubeRay's reconcilers' validation says of each (no cluster)")
	flag.Parse()
	if *validateOnly {
		exitOnError(validate(os.Stdin, os.Stdout, *gates), "validate")
		return
	}
	if *gates != "" {
		exitOnError(utilfeature.DefaultMutableFeatureGate.Set(*gates), "--feature-gates")
	}
	ctrl.SetLogger(k8szap.New(k8szap.UseDevMode(false)))
	log := ctrl.Log.WithName("kuberay")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(rayv1.AddToScheme(scheme))
	utilruntime.Must(batchv1.AddToScheme(scheme))

	// --kubeconfig is controller-runtime's own flag (registered by its config package).
	cfg, err := ctrl.GetConfig()
	exitOnError(err, "kubeconfig")
	cfg.UserAgent = "kuberay-operator/" + utils.KUBERAY_VERSION
	// The operator's cache selector: only the Jobs KubeRay created.
	created, err := labels.NewRequirement(utils.KubernetesCreatedByLabelKey, selection.Equals, []string{utils.ComponentName})
	exitOnError(err, "selector")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{ByObject: map[client.Object]cache.ByObject{&batchv1.Job{}: {Label: labels.NewSelector().Add(*created)}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: *probe,
		LeaderElection:         false,
	})
	exitOnError(err, "manager")
	// Ready once the informers' caches have synced: the reconcilers then see every Ray object.
	exitOnError(mgr.AddHealthzCheck("ping", healthz.Ping), "healthz")
	exitOnError(mgr.AddReadyzCheck("caches", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}), "readyz")

	provider := loopback{dashboardURL: *dashboard, serveHost: *serveHost, servePort: *servePort}
	ctx := ctrl.SetupSignalHandler()
	concurrency := 1
	exitOnError(ray.NewReconciler(ctx, mgr, ray.RayClusterReconcilerOptions{}).SetupWithManager(mgr, concurrency), "RayCluster controller")
	exitOnError(ray.NewRayServiceReconciler(ctx, mgr, provider).SetupWithManager(mgr, concurrency), "RayService controller")
	exitOnError(ray.NewRayJobReconciler(ctx, mgr, ray.RayJobReconcilerOptions{}, provider).SetupWithManager(mgr, concurrency), "RayJob controller")
	log.Info("starting KubeRay reconcilers", "version", utils.KUBERAY_VERSION, "dashboard", *dashboard)
	exitOnError(mgr.Start(ctx), "manager")
}

func exitOnError(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "kuberay: %s: %v\n", what, err)
		os.Exit(1)
	}
}
