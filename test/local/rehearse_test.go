package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/rehearse"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/gpu"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/rollout"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

func deployment(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32, selector map[string]string, gpus int64) {
	t.Helper()
	c := corev1.Container{Name: "main", Image: "registry.k8s.io/pause:3.10"}
	if gpus > 0 {
		q := *resource.NewQuantity(gpus, resource.DecimalSI)
		c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{gpu.Resource: q}, Limits: corev1.ResourceList{gpu.Resource: q}}
	}
	labels := map[string]string{"app": name}
	_, err := cs.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{NodeSelector: selector, Containers: []corev1.Container{c}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func pdb(t *testing.T, cs kubernetes.Interface, ns, app string, maxUnavailable int) {
	t.Helper()
	mu := intstr.FromInt32(int32(maxUnavailable))
	_, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: app},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &mu, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func waitAvailable(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas
	}, time.Minute, 100*time.Millisecond, "%s/%s available", ns, name)
}

// TestRollNodeGroupHonoursBudgets rolls node groups as EKS managed node groups roll them: a GPU training
// Deployment with a budget allowing one disruption moves to the new GPU node (surged at the target version) and
// the old node goes; a system component whose budget has maxUnavailable: 0 fails the roll naming the budget, as
// EKS's PodEvictionFailure does, and the result says what force would do.
func TestRollNodeGroupHonoursBudgets(t *testing.T) {
	t.Parallel()
	c, cs := testenv.MustEmbedded(t, testenv.MustShape(t, "local"))
	createNamespace(t, t.Context(), cs, "ml-training")
	createNamespace(t, t.Context(), cs, "platform")
	deployment(t, cs, "ml-training", "trainer", 1, map[string]string{"node-role.mlops.io/gpu": "true"}, 1)
	pdb(t, cs, "ml-training", "trainer", 1)
	deployment(t, cs, "platform", "gatekeeper", 2, map[string]string{"node-role.mlops.io/system": "true"}, 0)
	pdb(t, cs, "platform", "gatekeeper", 0)
	waitAvailable(t, cs, "ml-training", "trainer")
	waitAvailable(t, cs, "platform", "gatekeeper")

	r := check.Roll(rollout.RollNodeGroup(t.Context(), cs, c, rollout.Roll{Group: "gpu", KubeletVersion: "v1.36.0", Progress: t.Logf}))
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Contains(t, r.Message, "1 GPU pod(s) running on the new nodes")
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=gpu"})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1, "the old GPU node is gone, the new one stays")
	assert.Equal(t, "v1.36.0", nodes.Items[0].Status.NodeInfo.KubeletVersion)

	r = check.Roll(rollout.RollNodeGroup(t.Context(), cs, c, rollout.Roll{Group: "system", KubeletVersion: "v1.36.0", EvictionTimeout: 3 * time.Second, Progress: t.Logf}))
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, r.Message, "PodEvictionFailure")
	assert.Contains(t, r.Message, "PodDisruptionBudget platform/gatekeeper (maxUnavailable: 0) allows 0 disruption(s)")
	assert.Contains(t, strings.Join(r.Details, "\n"), "with force")
}

// kubeAPIServers are the real per-minor servers make rehearse builds (make test builds them too).
func kubeAPIServers(t *testing.T, minors ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range minors {
		p := filepath.Join(testenv.Root(), "bin", "kube-apiserver-"+m)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s missing: run `make kube-apiservers` (make test builds them): %v", p, err)
		}
		out[m] = p
	}
	return out
}

const inPlaceObjects = `apiVersion: v1
kind: Namespace
metadata:
  name: ml-training
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: ml-training
data:
  epochs: "3"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: trainer
  namespace: ml-training
spec:
  replicas: 1
  selector:
    matchLabels: {app: trainer}
  template:
    metadata:
      labels: {app: trainer}
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`

// TestInPlaceUpgradeOnRealServers runs the declared minor's real kube-apiserver, applies objects (a CRD generated
// from KubeRay's Go types among them), upgrades to the next minor's real server on the same etcd data: every
// object reads back, the CRD is served. Then an object created through an alpha API the next minor removed
// (scheduling.k8s.io/v1alpha1 Workload, enabled on the old server) is named as not readable after the upgrade.
func TestInPlaceUpgradeOnRealServers(t *testing.T) {
	t.Parallel()
	from := testenv.MustShape(t, "local").KubernetesVersion
	m, err := rehearse.Minor(from)
	require.NoError(t, err)
	to := "1." + strconv.Itoa(m+1)
	servers := kubeAPIServers(t, from, to)
	objs, err := deploy.Decode("in-place.yaml", []byte(inPlaceObjects))
	require.NoError(t, err)
	crd := filepath.Join(testenv.CRDsDir(t), "rayjobs.ray.io.yaml")
	data, err := os.ReadFile(crd)
	require.NoError(t, err)
	crds, err := deploy.Decode(crd, data)
	require.NoError(t, err)
	objs = append(crds, objs...)

	r := rehearse.InPlace{From: from, To: to, Servers: servers, Dir: t.TempDir(), Progress: t.Logf}.Run(t.Context(), objs)
	require.Equal(t, result.Passed, r.Status, "%s %v", r.Message, r.Details)
	assert.Contains(t, r.Message, "1 CRDs Established and served")

	workload, err := deploy.Decode("workload.yaml", []byte(`apiVersion: scheduling.k8s.io/v1alpha1
kind: Workload
metadata:
  name: trainer-gang
  namespace: ml-training
spec:
  podGroups:
  - name: workers
    policy:
      gang:
        minCount: 2
`))
	require.NoError(t, err)
	r = rehearse.InPlace{From: from, To: to, Servers: servers, Dir: t.TempDir(), Progress: t.Logf,
		Args: map[string][]string{from: {"--runtime-config=scheduling.k8s.io/v1alpha1=true", "--feature-gates=GenericWorkload=true"}},
	}.Run(t.Context(), append(objs, workload...))
	require.Equal(t, result.Failed, r.Status, "%s", r.Message)
	assert.Contains(t, strings.Join(r.Details, "\n"), "Workload ml-training/trainer-gang (scheduling.k8s.io/v1alpha1)")
	assert.Contains(t, strings.Join(r.Details, "\n"), "cannot be read back")
}

// TestRehearseLocalToNextMinor is `harness rehearse --env local`: the declared minor to the next, on the
// platform as it is. Nothing fails but, while terraform/versions.tf has no date for the target, the calendar
// blocker; the add-on versions are left to the real-AWS tier (skipped, saying why).
func TestRehearseLocalToNextMinor(t *testing.T) {
	t.Parallel()
	p := testenv.MustPlatform(t, testenv.Root(), "local")
	m, err := rehearse.Minor(p.Static.KubernetesVersion)
	require.NoError(t, err)
	to := "1." + strconv.Itoa(m+1)
	t0 := time.Now()
	rs, err := rehearse.Run(t.Context(), rehearse.Config{Platform: p, To: to, Charts: engine.Charts{Dir: testenv.ChartsDir(t)},
		CRDsDir: testenv.CRDsDir(t), Servers: kubeAPIServers(t, p.Static.KubernetesVersion, to), Dir: t.TempDir(), Progress: t.Logf})
	require.NoError(t, err)
	t.Logf("rehearsal %s -> %s in %s", p.Static.KubernetesVersion, to, time.Since(t0).Round(100*time.Millisecond))
	names := map[string]bool{}
	for _, r := range rs {
		t.Logf("%-34s %-8s %s", r.Name, r.Status, r.Message)
		if r.Name == rehearse.NameCalendar && r.Status == result.Failed {
			// The one blocker the rehearsal finds today: terraform/versions.tf has no standard-support date for
			// the target yet, so `terraform plan` would refuse cluster_version = target (test/static covers both ways).
			assert.Contains(t, strings.Join(r.Details, "\n"), "eks_standard_support_ends has no "+to)
			continue
		}
		assert.NotEqual(t, result.Failed, r.Status, "%s: %s %v", r.Name, r.Message, r.Details)
		names[r.Name] = true
	}
	for _, n := range []string{rehearse.NameAPIs, rehearse.NameInPlace, rollout.NameRoll("gpu"), rollout.NameRoll("system"), "after/gpu-isolation"} {
		assert.True(t, names[n], "a result %s", n)
	}
}

// TestControlPlaneServesTheDeclaredMinor: the embedded control plane emulates Terraform's cluster_version, so an
// API the declared EKS minor does not serve is not served here either (MutatingAdmissionPolicy in
// admissionregistration.k8s.io/v1 is GA from 1.36 on).
func TestControlPlaneServesTheDeclaredMinor(t *testing.T) {
	t.Parallel()
	s := testenv.MustShape(t, "local")
	_, cs := testenv.MustEmbedded(t, s)
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, s.KubernetesVersion, v.EmulationMajor+"."+v.EmulationMinor, "the server emulates cluster_version (binary %s)", v.GitVersion)
	res, err := cs.Discovery().ServerResourcesForGroupVersion("admissionregistration.k8s.io/v1")
	require.NoError(t, err)
	for _, r := range res.APIResources {
		assert.NotEqual(t, "mutatingadmissionpolicies", r.Name, "Kubernetes %s does not serve MutatingAdmissionPolicy in v1", s.KubernetesVersion)
	}
}
