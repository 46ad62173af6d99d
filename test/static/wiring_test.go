package static

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/check/wiring"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// wiringResults runs the wiring checks on the repository at root for env, with the pinned upstream charts.
func wiringResults(t *testing.T, root, env string) map[string]result.Result {
	t.Helper()
	p := testenv.MustPlatform(t, root, env)
	e := testenv.MustEnv(t, p, nil, engine.Charts{Dir: testenv.ChartsDir(t)}, "")
	rendered, skipped := e.RenderCharts(context.Background())
	requireOnlyUnavailable(t, skipped)
	in := wiring.Input{Platform: p, Skipped: skipped, Now: time.Now()}
	for _, c := range rendered {
		in.Charts = append(in.Charts, wiring.Chart{App: c.App, Objects: c.Objects, Values: c.Values})
	}
	out := map[string]result.Result{}
	for _, r := range wiring.Check(in) {
		out[r.Name] = r
	}
	return out
}

// requireOnlyUnavailable: every enabled chart renders (the chart directory holds every pinned chart,
// Karpenter's included), but one a test pins at a version the directory does not hold.
func requireOnlyUnavailable(t *testing.T, skipped []string) {
	t.Helper()
	for _, s := range skipped {
		require.Contains(t, s, "not what Argo CD would install", "every enabled chart renders: %s", s)
	}
}

func TestWiringPassesOnTheRepository(t *testing.T) {
	t.Parallel()
	for _, env := range envs {
		for name, r := range wiringResults(t, testenv.Root(), env) {
			assert.Equal(t, result.Passed, r.Status, "%s %s: %s %v", env, name, r.Message, r.Details)
		}
	}
}

// TestEachWiringCheckFailsOnItsDefect re-introduces, in a copy of the repository, each defect the wiring checks
// guard against (the ones a review against the AWS and chart docs found), and expects the check to name it.
func TestEachWiringCheckFailsOnItsDefect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, check, env, file, old, new, want string
	}{
		// wiring/identity
		{"IRSA subject written namespace/name", "wiring/identity", "local", "terraform/modules/eks/irsa.tf",
			`"system:serviceaccount:${sa.namespace}:${sa.name}"`, `"system:serviceaccount:${sa.namespace}/${sa.name}"`,
			`trusts subject "system:serviceaccount:flyte/flyte-binary", which is not system:serviceaccount:<namespace>:<name>`},
		{"flyte-binary's SA named by its release", "wiring/identity", "local", "helm/platform-app/values.yaml",
			"        name: flyte-binary\n", "",
			"trusts flyte/flyte-binary, but no chart, manifest or EKS add-on creates that ServiceAccount"},
		{"Flyte role annotation empty", "wiring/identity", "dev", "helm/platform-app/values.yaml",
			`eks.amazonaws.com/role-arn: "{{ .Values.global.aws.roles.flyte }}"`, `eks.amazonaws.com/role-arn: ""`,
			`ServiceAccount flyte/flyte-binary has eks.amazonaws.com/role-arn="", want the ARN of role mlops-dev-flyte`},
		{"sklearn-iris SA created nowhere", "wiring/identity", "local", "helm/platform-config/values.yaml",
			"  - namespace: models\n    name: sklearn-iris\n    role: kserve\n", "",
			"trusts models/sklearn-iris, but no chart, manifest or EKS add-on creates that ServiceAccount"},
		{"Ray pods without a role", "wiring/identity", "local", "workflows/ray/rayjob.yaml",
			"          serviceAccountName: ray-training\n", "",
			"RayJob/ml-training/train-mlp/head uses the artifacts bucket (named in the object) as ServiceAccount ml-training/default, which no IAM role trusts"},
		// wiring/names
		{"bucket with a random suffix", "wiring/names", "local", "terraform/storage.tf",
			"  bucket        = local.artifacts_bucket", `  bucket_prefix = "${local.name}-artifacts-"`,
			`the GitOps Bridge's artifactsBucket is "mlops-local-artifacts-123456789012", but no aws_s3_bucket is created with that name`},
		{"bucket hard-coded in a manifest", "wiring/names", "local", "workflows/kserve/inferenceservice.yaml",
			"storageUri: s3://${ARTIFACTS_BUCKET}/models/sklearn-iris", "storageUri: s3://mlops-local-artifacts/models/sklearn-iris",
			`workflows/kserve/inferenceservice.yaml:29: hard-codes the bucket "mlops-local-artifacts"`},
		{"bucket hard-coded in Helm values", "wiring/names", "dev", "helm/platform-app/values.yaml",
			`metadataContainer: "{{ .Values.global.aws.artifactsBucket }}"`, "metadataContainer: mlops-dev-artifacts",
			`hard-codes "mlops-dev", a name Terraform derives from project and environment`},
		{"a bridge key Terraform does not publish", "wiring/names", "local", "helm/platform-app/values.yaml",
			`username: "{{ .Values.global.aws.database.username }}"`, `username: "{{ .Values.global.aws.database.user }}"`,
			"terraform/gitops.tf:6) has no database.user"},
		{"workload role with a random name", "wiring/names", "local", "terraform/modules/eks/irsa.tf",
			`  name               = "${var.cluster_name}-${each.key}"`, `  name_prefix        = "${var.cluster_name}-${each.key}-"`,
			`the GitOps Bridge's roles.flyte names role "mlops-local-flyte", which no aws_iam_role is created as`},
		// wiring/database
		{"Flyte on loopback (no database)", "wiring/database", "local", "helm/platform-app/values.yaml",
			`          host: "{{ .Values.global.aws.database.host }}"` + "\n", "",
			`is configured for the database at configuration.database.host="127.0.0.1": loopback`},
		{"prod database host a placeholder", "wiring/database", "prod", "helm/values/prod.yaml",
			"          passwordPath: /etc/flyte/db/password\n", "          passwordPath: /etc/flyte/db/password\n          host: flyte-metadata.example.internal\n",
			`"flyte-metadata.example.internal": neither a Service the platform runs in this environment nor the database Terraform creates`},
		{"RDS password never wired", "wiring/database", "prod", "helm/values/prod.yaml",
			"          passwordPath: /etc/flyte/db/password\n", "          dbname: flyte\n",
			"no password source; RDS keeps the master password in Secrets Manager"},
		{"in-cluster database not run", "wiring/database", "dev", "helm/platform-config/templates/database.yaml",
			"{{- if $db.inCluster }}", "{{- if false }}",
			`"flyte-db.flyte.svc.cluster.local": neither a Service the platform runs in this environment`},
		// wiring/args
		{"kube-downscaler resource kind it does not know", "wiring/args", "local", "helm/platform-app/values.yaml",
			"--include-resources=deployments,statefulsets,jobs", "--include-resources=deployments,statefulsets,jobs,rayclusters",
			`--include-resources: "rayclusters" is not a kind it can scale`},
		{"kube-downscaler kind its RBAC does not cover", "wiring/args", "local", "helm/platform-app/values.yaml",
			"--include-resources=deployments,statefulsets,jobs", "--include-resources=deployments,kafkaconnects",
			"its arguments make py-kube-downscaler scale kafkaconnects.kafka.strimzi.io, but the chart's RBAC grants no update/patch"},
		{"kube-downscaler option it does not have", "wiring/args", "local", "helm/platform-app/values.yaml",
			"        - --interval=60\n", "        - --interval=60\n        - --scale-rayclusters\n",
			"unrecognized argument --scale-rayclusters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			got := wiringResults(t, root, tc.env)[tc.check]
			require.Equal(t, result.Failed, got.Status, "%s did not fire: %s", tc.check, got.Message)
			assert.Contains(t, strings.Join(got.Details, "\n"), tc.want)
		})
	}
}

// checkovResult runs policy/checkov on the repository at root (checkov from the repository's own venv).
func checkovResult(t *testing.T, root, env string) result.Result {
	t.Helper()
	p := testenv.MustPlatform(t, root, env)
	e := testenv.MustEnv(t, p, nil, engine.Charts{Dir: testenv.ChartsDir(t)}, "")
	rendered, skipped := e.RenderCharts(context.Background())
	requireOnlyUnavailable(t, skipped)
	var charts []check.ChartObjects
	for _, c := range rendered {
		charts = append(charts, check.ChartObjects{Chart: c.App.Chart, App: c.App.Name, Objects: c.Objects})
	}
	return check.Checkov(context.Background(), p, filepath.Join(testenv.Root(), check.CheckovVenv), charts, skipped)
}

// TestCheckovFailsOnAFindingWithoutAReason: checkov's findings fail policy/checkov unless fixed or skipped with a
// reason — in Terraform, in the platform's manifests, and in the upstream charts.
func TestCheckovFailsOnAFindingWithoutAReason(t *testing.T) {
	t.Parallel()
	got := checkovResult(t, testenv.Root(), "prod")
	require.Equal(t, result.Passed, got.Status, "%s %v", got.Message, got.Details)
	tests := []struct{ name, file, old, new, want string }{
		{"Terraform skip without reason removed", "terraform/storage.tf",
			"  #checkov:skip=CKV_AWS_18:", "  # CKV_AWS_18 was: ", "CKV_AWS_18 Ensure the S3 bucket has access logging enabled (aws_s3_bucket.artifacts)"},
		{"IMDS reachable from pods again", "terraform/modules/eks/node_groups.tf",
			"http_put_response_hop_limit = 1", "http_put_response_hop_limit = 2", "CKV_AWS_341"},
		{"platform manifest annotation removed", "helm/platform-config/templates/database.yaml",
			"    checkov.io/skip4: CKV_K8S_40=", "    x-was: CKV_K8S_40=", "templates/database.yaml: CKV_K8S_40"},
		{"upstream finding no longer accepted", "helm/checkov-upstream.yaml",
			"  CKV_K8S_30: chart v1.14.1 exposes no container securityContext\n", "",
			"chart flyte-binary (Application flyte): CKV_K8S_30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.CopyRepo(t)
			testenv.Edit(t, root, tc.file, tc.old, tc.new)
			got := checkovResult(t, root, "dev")
			require.Equal(t, result.Failed, got.Status, got.Message)
			assert.Contains(t, strings.Join(got.Details, "\n"), tc.want)
		})
	}
}
