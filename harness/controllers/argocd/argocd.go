// Package argocd runs the real Argo CD — its application controller and repo server, built unmodified from the
// argo-cd/v3 module at the version the platform installs (tools/argocd) — as processes against a cluster, with
// Redis served in-process by miniredis (what Argo CD's own tests use). Loopback only, free ports; the processes
// are supervised by internal/proc (a component that dies ends the run, named); Stop ends every process and the
// Redis server, and the processes die with the harness (parent-death signal).
package argocd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/ports"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
)

// Version is the Argo CD release the platform installs (docs/runbook.md) and tools/argocd builds.
const Version = "v3.6.1"

// Namespace is where Argo CD runs and the platform's Applications live.
const Namespace = "argocd"

// Config says what to run and where.
type Config struct {
	// Binary is tools/argocd's build (`argocd application-controller|repo-server`).
	Binary string
	// HelmDir holds the helm binary the repo server renders charts with (prepended to its PATH).
	HelmDir string
	// CRDsDir holds Argo CD's CRDs (manifests/crds of the argo-cd module).
	CRDsDir string
	// Kubeconfig reaches the cluster; the controller deploys to it as https://kubernetes.default.svc.
	Kubeconfig string
	// Dir receives the processes' logs and the repo server's working files.
	Dir string
	// ExcludeWebhooks keeps admission webhook configurations and APIServices out of every sync (Argo CD's own
	// resource.exclusions setting): on an emulated cluster nothing runs to answer them.
	ExcludeWebhooks bool
	// Settings are argocd-cm entries the platform relies on (helm/argocd/argocd-cm.yaml, what the runbook
	// applies after the install manifest).
	Settings map[string]string
}

// Server is a running Argo CD.
type Server struct {
	dir   string
	redis *miniredis.Miniredis
	// sockDir holds the askpass socket when the run's directory is too long for one ("" otherwise).
	sockDir string
	mu      sync.Mutex
	procs   []*proc.Process
	// Started is how long the start took (CRDs, settings, both processes listening).
	Started time.Duration
}

// Start installs Argo CD's CRDs and settings into the cluster and starts Redis, the repo server and the
// application controller. On error everything started is stopped.
func Start(ctx context.Context, rc *rest.Config, cfg Config) (*Server, error) {
	s := &Server{}
	if err := s.start(ctx, rc, cfg); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, rc *rest.Config, cfg Config) (err error) {
	t0 := time.Now()
	s.dir = cfg.Dir
	for _, p := range []*string{&cfg.Binary, &cfg.HelmDir, &cfg.Kubeconfig, &cfg.Dir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return fmt.Errorf("argocd binary: %w (make argocd)", err)
	}
	if _, err := HelmCLI(cfg.HelmDir); err != nil {
		return err
	}
	set, err := deploy.LoadCRDs(cfg.CRDsDir)
	if err != nil {
		return fmt.Errorf("argo cd CRDs: %w", err)
	}
	if err := deploy.InstallCRDs(ctx, rc, set, time.Minute); err != nil {
		return fmt.Errorf("argo cd CRDs: %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if err := settings(ctx, cs, cfg.ExcludeWebhooks, cfg.Settings); err != nil {
		return err
	}
	if s.redis, err = miniredis.Run(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	repoPort, err := ports.Free()
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"PATH="+cfg.HelmDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+filepath.Join(cfg.Dir, "home"),
		"TMPDIR="+filepath.Join(cfg.Dir, "tmp"),
		// What the install's container image provides under /app/config and /home/argocd, in the run's directory.
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_GNUPGHOME="+filepath.Join(cfg.Dir, "gpg"),
		"ARGOCD_SSH_DATA_PATH="+filepath.Join(cfg.Dir, "ssh"),
		"ARGOCD_TLS_DATA_PATH="+filepath.Join(cfg.Dir, "tls"),
		"ARGOCD_PLUGINSOCKFILEPATH="+filepath.Join(cfg.Dir, "plugins"),
	)
	// The repo server's askpass socket is /tmp/reposerver-ask-pass.sock unless told (and left there when it stops):
	// in the run's directory when the path fits a unix socket's 108 bytes, else in a short directory of its own,
	// removed by Stop.
	sock := filepath.Join(cfg.Dir, "askpass.sock")
	if len(sock) >= 100 {
		d, err := os.MkdirTemp("", "argocd-")
		if err != nil {
			return err
		}
		s.sockDir, sock = d, filepath.Join(d, "askpass.sock")
	}
	env = append(env, "ARGOCD_ASK_PASS_SOCK="+sock)
	for _, d := range []string{"home", "tmp", "gpg", "ssh", "tls", "plugins"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return err
		}
	}
	m1, err := ports.Free()
	if err != nil {
		return err
	}
	if err := s.run(ctx, cfg, env, repoPort, "repo-server", "--port", strconv.Itoa(repoPort), "--address", "127.0.0.1",
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(m1), "--redis", s.redis.Addr(), "--disable-tls", "--client-ca-path", "",
		"--loglevel", "warn"); err != nil {
		return err
	}
	m2, err := ports.Free()
	if err != nil {
		return err
	}
	if err := s.run(ctx, cfg, env, m2, "application-controller", "--kubeconfig", cfg.Kubeconfig, "--namespace", Namespace,
		"--repo-server", "127.0.0.1:"+strconv.Itoa(repoPort), "--repo-server-plaintext", "--redis", s.redis.Addr(),
		"--metrics-port", strconv.Itoa(m2), "--status-processors", "4", "--operation-processors", "4",
		"--app-resync", "3", "--self-heal-timeout-seconds", "2", "--persist-resource-health", "--loglevel", "warn"); err != nil {
		return err
	}
	s.Started = time.Since(t0)
	return nil
}

// run starts one Argo CD component, supervised (internal/proc: a component that dies during the run ends it,
// named), and waits until it listens on port.
func (s *Server) run(ctx context.Context, cfg Config, env []string, port int, component string, args ...string) error {
	p, err := proc.Start(ctx, proc.Spec{Name: "argocd " + component, Path: cfg.Binary, Args: append([]string{component}, args...),
		Env: proc.GCTuned(slices.Clip(env), "1GiB"), Dir: cfg.Dir, Log: filepath.Join(cfg.Dir, component+".log"), PollInterval: 200 * time.Millisecond,
		Ready: func(context.Context) error { return listening(port) }})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return nil
}

// HelmCLI is the helm the repo server renders charts with: dir's (make argocd builds bin/helm), else the first on
// PATH (the repo server's PATH is dir, then the harness's). Without one every Application's manifest generation
// fails ("helm: executable file not found") and the sync would wait out its timeout: the start fails at once.
func HelmCLI(dir string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, "helm")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no helm in %s nor on PATH: Argo CD's repo server renders the charts with the Helm CLI (make argocd builds bin/helm)", dir)
}

// Stop ends both processes (and their children: the repo server runs git and helm) and Redis.
func (s *Server) Stop() error {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.Stop())
	}
	if s.redis != nil {
		s.redis.Close()
		s.redis = nil
	}
	if s.sockDir != "" {
		errs = append(errs, os.RemoveAll(s.sockDir))
		s.sockDir = ""
	}
	return errors.Join(errs...)
}

// settings creates the argocd namespace, argocd-cm and argocd-secret (what an install's manifests create).
func settings(ctx context.Context, cs kubernetes.Interface, excludeWebhooks bool, platform map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	labels := map[string]string{"app.kubernetes.io/part-of": "argocd"}
	data := map[string]string{"timeout.reconciliation": "3s"}
	maps.Copy(data, platform)
	if excludeWebhooks {
		data["resource.exclusions"] = strings.TrimSpace(`
- apiGroups: ["admissionregistration.k8s.io"]
  kinds: ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
  clusters: ["*"]
- apiGroups: ["apiregistration.k8s.io"]
  kinds: ["APIService"]
  clusters: ["*"]
`)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: Namespace, Labels: labels}, Data: data}
	if _, err := cs.CoreV1().ConfigMaps(Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: Namespace, Labels: labels},
		StringData: map[string]string{"server.secretkey": hex.EncodeToString(key)}}
	if _, err := cs.CoreV1().Secrets(Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// listening is nil once something accepts connections on 127.0.0.1:port.
func listening(port int) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return fmt.Errorf("%w: not listening on 127.0.0.1:%d", proc.ErrNotYet, port)
	}
	return c.Close()
}

// RegisterCluster registers the cluster of rc as an Argo CD cluster (a cluster Secret with its address and
// credentials) and returns its server URL. Argo CD runs outside the cluster here, so the in-cluster address
// https://kubernetes.default.svc does not reach it: Applications are pointed at this URL instead (a reported
// rewrite).
func RegisterCluster(ctx context.Context, rc *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", err
	}
	read := func(data []byte, file string) (string, error) {
		if len(data) == 0 && file != "" {
			d, err := os.ReadFile(file)
			if err != nil {
				return "", err
			}
			data = d
		}
		return base64.StdEncoding.EncodeToString(data), nil
	}
	tls := map[string]any{"insecure": rc.Insecure}
	for k, v := range map[string][2]any{"caData": {rc.CAData, rc.CAFile}, "certData": {rc.CertData, rc.CertFile}, "keyData": {rc.KeyData, rc.KeyFile}} {
		s, err := read(v[0].([]byte), v[1].(string))
		if err != nil {
			return "", err
		}
		if s != "" {
			tls[k] = s
		}
	}
	conf := map[string]any{"tlsClientConfig": tls}
	if rc.BearerToken != "" {
		conf["bearerToken"] = rc.BearerToken
	}
	data, err := json.Marshal(conf)
	if err != nil {
		return "", err
	}
	server := strings.TrimSuffix(rc.Host, "/")
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-under-test", Namespace: Namespace,
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster"}},
		StringData: map[string]string{"name": "under-test", "server": server, "config": string(data)},
	}
	if _, err := cs.CoreV1().Secrets(Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	return server, nil
}

// LogTail returns the last n lines of each component's log that report a warning or an error, for a result.
func (s *Server) LogTail(n int) []string {
	var out []string
	for _, c := range []string{"repo-server", "application-controller"} {
		data, err := os.ReadFile(filepath.Join(s.dir, c+".log"))
		if err != nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "level\":\"error") || strings.Contains(l, "level\":\"warn") || strings.Contains(l, "level=error") || strings.Contains(l, "level=warn") {
				lines = append(lines, c+": "+l)
			}
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		out = append(out, lines...)
	}
	return out
}

// ReleaseManifest is the install manifest of Version, as the runbook applies it.
const ReleaseManifest = "https://raw.githubusercontent.com/argoproj/argo-cd/" + Version + "/manifests/install.yaml"

// Install applies Argo CD's release manifest (kubectl apply -n argocd -f URL, server-side) into the cluster of rc
// and waits until its application controller and repo server are ready.
func Install(ctx context.Context, rc *rest.Config, url string, settings map[string]string) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	objs, err := deploy.Decode(url, data)
	if err != nil {
		return err
	}
	res, err := deploy.NewResources(rc)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.GetNamespace() == "" && deploy.Namespaced(o.GetKind()) {
			o.SetNamespace(Namespace)
		}
		ri, err := res.For(o.Unstructured)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if _, err := ri.Apply(ctx, o.GetName(), o.Unstructured, metav1.ApplyOptions{FieldManager: "harness", Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	// The platform's settings over the manifest's empty argocd-cm, as the runbook's step 3 applies them.
	if len(settings) > 0 {
		cm, err := cs.CoreV1().ConfigMaps(Namespace).Get(ctx, "argocd-cm", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("argocd-cm: %w", err)
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		maps.Copy(cm.Data, settings)
		if _, err := cs.CoreV1().ConfigMaps(Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("argocd-cm: %w", err)
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		sts, err1 := cs.AppsV1().StatefulSets(Namespace).Get(ctx, "argocd-application-controller", metav1.GetOptions{})
		dep, err2 := cs.AppsV1().Deployments(Namespace).Get(ctx, "argocd-repo-server", metav1.GetOptions{})
		if err1 == nil && err2 == nil && sts.Status.ReadyReplicas > 0 && dep.Status.ReadyReplicas > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("argocd-application-controller and argocd-repo-server not ready after 10m")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}
