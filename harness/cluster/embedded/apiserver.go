package embedded

import (
	"context"
	"fmt"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/k8sversion"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"net"
	"time"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/util/wait"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// componentRegistry gives each component its own feature gate and version registry (a copy of the process
// defaults), so two control planes in one process never write to shared globals. emulate ("1.35": the
// cluster_version Terraform declares) is the component's emulated version (--emulated-version): the API server
// then serves that minor's group-versions and feature-gate defaults, not the binary's — so an API the declared
// EKS version does not serve is refused here too. Empty: the binary's own minor.
func componentRegistry(emulate string) (basecompatibility.ComponentGlobalsRegistry, error) {
	fg := utilfeature.DefaultMutableFeatureGate.DeepCopy()
	ev := utilcompatibility.DefaultBuildEffectiveVersion()
	if k8sversion.Placeholder() {
		// Built without -ldflags (go build, go install): the binary version from the build's module information,
		// and /version reports it (Helm and Argo CD judge charts' kubeVersion constraints by it).
		if v, err := version.ParseSemantic(k8sversion.FromBuildInfo()); err == nil {
			floor := v.WithPatch(0).SubtractMinor(3)
			ev = builtVersion{basecompatibility.NewEffectiveVersion(v, false, floor, floor), "v" + v.String()}
		}
	}
	if emulate != "" {
		v, err := version.ParseMajorMinor(emulate)
		if err != nil {
			return nil, fmt.Errorf("emulated version %q: %w", emulate, err)
		}
		ev.SetEmulationVersion(v)
		if errs := ev.Validate(); len(errs) > 0 {
			return nil, fmt.Errorf("cluster version %s cannot be emulated by the embedded Kubernetes %s (allowed %s): %w",
				emulate, ev.BinaryVersion(), ev.AllowedEmulationVersionRange(), utilerrors.NewAggregate(errs))
		}
		// Admission plugins read the process-wide gates (MutatingAdmissionPolicy, GA in 1.36, would otherwise
		// wait forever for an API a 1.35 server does not serve): the child process hosts one control plane, so
		// the process's gates emulate the same version.
		if utilfeature.DefaultMutableFeatureGate.EmulationVersion().String() != v.String() {
			if err := utilfeature.DefaultMutableFeatureGate.SetEmulationVersion(v); err != nil {
				return nil, fmt.Errorf("emulate %s in the process's feature gates: %w", emulate, err)
			}
		}
	}
	r := basecompatibility.NewComponentGlobalsRegistry()
	if err := r.Register(basecompatibility.DefaultKubeComponent, ev, fg); err != nil {
		return nil, fmt.Errorf("register component globals: %w", err)
	}
	if err := r.Set(); err != nil {
		return nil, fmt.Errorf("set component globals: %w", err)
	}
	return r, nil
}

// apiServer builds kube-apiserver options: a pre-bound loopback listener, our certificates, RBAC, etcd at etcdURL.
func apiServerOptions(p *pki, etcdURL string, ln net.Listener, emulate string) (*options.ServerRunOptions, error) {
	reg, err := componentRegistry(emulate)
	if err != nil {
		return nil, err
	}
	s := options.NewServerRunOptions()
	s.GenericServerRunOptions.ComponentGlobalsRegistry = reg
	s.SecureServing.Listener = ln
	s.SecureServing.BindAddress = net.IPv4(127, 0, 0, 1)
	s.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	s.SecureServing.ServerCert.CertKey.CertFile = p.ServerCert
	s.SecureServing.ServerCert.CertKey.KeyFile = p.ServerKey
	s.SecureServing.ExternalAddress = net.IPv4(127, 0, 0, 1)
	s.GenericServerRunOptions.AdvertiseAddress = net.IPv4(127, 0, 0, 1)
	s.Authentication.ClientCert.ClientCA = p.CACert
	s.Authentication.ServiceAccounts.Issuers = []string{"https://kubernetes.default.svc.cluster.local"}
	s.Authentication.ServiceAccounts.KeyFiles = []string{p.SAPub}
	s.ServiceAccountSigningKeyFile = p.SAKey
	s.Authorization.Modes = []string{"RBAC"}
	s.Etcd.StorageConfig.Transport.ServerList = []string{etcdURL}
	// EKS's default service CIDR.
	s.ServiceClusterIPRanges = "10.100.0.0/16"
	// The advertised address is loopback; the kubernetes Service gets no endpoints instead of a bogus one.
	s.EndpointReconcilerType = "none"
	// Admit what EKS admits (eks.go): privileged pods, and EKS's admission controllers — among them
	// ExtendedResourceToleration, which gives a pod requesting nvidia.com/gpu a toleration for the GPU taint.
	s.AllowPrivileged = eksAllowPrivileged
	s.Admission.GenericAdmission.EnablePlugins = eksAdmissionPlugins
	// One client, no contention: API Priority and Fairness only adds bootstrap work.
	s.Features.EnablePriorityAndFairness = false
	return s, nil
}

// runAPIServer starts kube-apiserver and waits until /readyz answers. done is closed when the server has exited.
func runAPIServer(ctx context.Context, s *options.ServerRunOptions, admin *rest.Config) (done <-chan error, err error) {
	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("complete kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("validate kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}
	config, err := app.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver config: %w", err)
	}
	cc, err := config.Complete()
	if err != nil {
		return nil, fmt.Errorf("complete kube-apiserver config: %w", err)
	}
	server, err := app.CreateServerChain(cc)
	if err != nil {
		return nil, fmt.Errorf("create kube-apiserver: %w", err)
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return nil, fmt.Errorf("prepare kube-apiserver: %w", err)
	}
	errCh := make(chan error, 1)
	go func() {
		defer close(errCh)
		if err := prepared.Run(ctx); err != nil {
			errCh <- err
		}
	}()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return errCh, err
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err, ok := <-errCh:
			if !ok {
				err = fmt.Errorf("exited")
			}
			return false, fmt.Errorf("kube-apiserver: %w", err)
		default:
		}
		status := 0
		last = cs.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status).Error()
		return status == 200, nil
	})
	if err != nil {
		return errCh, fmt.Errorf("wait for kube-apiserver /readyz (last: %v): %w", last, err)
	}
	return errCh, nil
}

// builtVersion is the effective version of a binary built without -ldflags: its Info carries the release the
// build's module information names instead of component-base's placeholder.
type builtVersion struct {
	basecompatibility.MutableEffectiveVersion
	git string
}

func (b builtVersion) Info() *apimachineryversion.Info {
	info := b.MutableEffectiveVersion.Info()
	if info != nil {
		info.GitVersion = b.git
	}
	return info
}
