package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// Standalone is an etcd (in this process) and a real kube-apiserver binary of some Kubernetes minor
// (tools/kubeapiserver, make rehearse) run as a child process with this package's certificates and EKS's
// kube-apiserver settings, on a fixed loopback port. Stop the server and start another minor's on the same etcd
// data: the rehearsal's in-place control plane upgrade.
type Standalone struct {
	dir, kubeconfig, etcdURL string
	port                     int
	pki                      *pki
	rest                     *rest.Config
	stopEtcd                 func()

	mu   sync.Mutex
	proc *proc.Process
	// Binary is the running server's binary.
	Binary string
}

// NewStandalone starts etcd with its data in dir (the caller removes dir) and generates the certificates.
func NewStandalone(ctx context.Context, dir string) (*Standalone, error) {
	p, err := newPKI(dir)
	if err != nil {
		return nil, err
	}
	port, err := ports.Free()
	if err != nil {
		return nil, err
	}
	etcdURL, stop, err := startEtcd(ctx, dir, filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	s := &Standalone{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig"), etcdURL: etcdURL, port: port, pki: p, stopEtcd: stop,
		rest: &rest.Config{Host: server, QPS: 1000, Burst: 2000,
			TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM, CertData: p.adminCertPEM, KeyData: p.adminKeyPEM}}}
	if err := p.writeKubeconfig(s.kubeconfig, "rehearsal", server); err != nil {
		stop()
		return nil, err
	}
	return s, nil
}

// RESTConfig is the admin client configuration (the same for every server started: same port, same certs).
func (s *Standalone) RESTConfig() *rest.Config { return rest.CopyConfig(s.rest) }

// Kubeconfig is the admin kubeconfig's path.
func (s *Standalone) Kubeconfig() string { return s.kubeconfig }

// EtcdURL is etcd's client URL.
func (s *Standalone) EtcdURL() string { return s.etcdURL }

// StartAPIServer starts binary (a kube-apiserver) against the etcd data with EKS's settings and extra flags,
// and waits until /readyz answers. Its output goes to kube-apiserver-<base>.log in the directory.
func (s *Standalone) StartAPIServer(ctx context.Context, binary string, extra ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("a kube-apiserver is already running")
	}
	p := s.pki
	args := []string{
		"--etcd-servers=" + s.etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.port), "--tls-cert-file=" + p.ServerCert, "--tls-private-key-file=" + p.ServerKey,
		"--client-ca-file=" + p.CACert, "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.SAPub, "--service-account-signing-key-file=" + p.SAKey,
		"--authorization-mode=RBAC", "--service-cluster-ip-range=10.100.0.0/16", "--endpoint-reconciler-type=none",
		"--allow-privileged=" + strconv.FormatBool(eksAllowPrivileged), "--enable-admission-plugins=" + strings.Join(eksAdmissionPlugins, ","),
		"--enable-priority-and-fairness=false",
	}
	args = append(args, extra...)
	cs, err := kubernetes.NewForConfig(s.rest)
	if err != nil {
		return err
	}
	// Its own process group, killed with the harness (no server outlives a SIGKILLed run); supervised.
	s.proc, err = proc.Start(ctx, proc.Spec{Name: "kube-apiserver " + filepath.Base(binary), Path: binary, Args: args,
		Log: filepath.Join(s.dir, "kube-apiserver-"+filepath.Base(binary)+".log"), StartTimeout: 2 * time.Minute,
		StopTimeout: 20 * time.Second, Ready: func(ctx context.Context) error {
			status := 0
			if err := cs.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status).Error(); err != nil || status != 200 {
				return fmt.Errorf("%w: /readyz %d %v", proc.ErrNotYet, status, err)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	s.Binary = binary
	return nil
}

// StopAPIServer stops the running kube-apiserver (SIGTERM, then SIGKILL after 20 s) and waits for its port to
// be free.
func (s *Standalone) StopAPIServer() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Standalone) stopLocked() error {
	if s.proc == nil {
		return nil
	}
	_ = s.proc.Stop() // killed after 20 s is not an error here: the port's release is what matters
	s.proc = nil
	for i := 0; i < 200; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err == nil {
			return ln.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("port %d still taken after stopping %s", s.port, s.Binary)
}

// Close stops the server and etcd.
func (s *Standalone) Close() error {
	err := s.StopAPIServer()
	s.stopEtcd()
	return err
}
