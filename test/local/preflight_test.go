package local

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/servicequotas"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/nightly"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

// fakeQuotas serves Service Quotas' GetServiceQuota (JSON 1.1, as the SDK speaks it) with the given values; moto
// implements only the vpc service's quotas.
func fakeQuotas(t *testing.T, values map[string]float64) *servicequotas.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ ServiceCode, QuotaCode string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		target := r.Header.Get("X-Amz-Target")
		v, ok := values[in.QuotaCode]
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if !ok || !strings.HasSuffix(target, ".GetServiceQuota") && !strings.HasSuffix(target, ".GetAWSDefaultServiceQuota") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"NoSuchResourceException","message":"no quota"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Quota": map[string]any{"ServiceCode": in.ServiceCode, "QuotaCode": in.QuotaCode, "Value": v}})
	}))
	t.Cleanup(srv.Close)
	return servicequotas.New(servicequotas.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// TestNightlyPreflight: before apply, a G/VT vCPU quota below the plan's need stops the run naming the quota (a
// fresh account's is often 0-8; the platform may run 3 g4dn.xlarge and Karpenter's GPU nodes); the zones come from
// EC2 (moto's zone IDs and offerings), never a zone EKS does not support, the first offering the node types; a
// commit not on the remote is refused before Argo CD would fail to fetch it.
func TestNightlyPreflight(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p := testenv.MustPlatform(t, testenv.Root(), "local")
	needs := nightly.Needs(p)
	var g *nightly.Quota
	for i := range needs {
		if needs[i].Code == "L-DB2E81BA" {
			g = &needs[i]
		}
	}
	require.NotNil(t, g, "the GPU node group needs the G and VT quota: %+v", needs)
	assert.Equal(t, 20, g.Need, "3 × g4dn.xlarge at max size and Karpenter's 2 GPUs as g4dn.xlarge: %v", g.From)

	problems, err := nightly.CheckQuotas(ctx, fakeQuotas(t, map[string]float64{"L-1216C47A": 640, "L-DB2E81BA": 8}), needs)
	require.NoError(t, err)
	require.Len(t, problems, 1)
	assert.Contains(t, problems[0], `quota L-DB2E81BA "Running On-Demand G and VT instances" is 8 vCPU`)
	problems, err = nightly.CheckQuotas(ctx, fakeQuotas(t, map[string]float64{"L-1216C47A": 640, "L-DB2E81BA": 256}), needs)
	require.NoError(t, err)
	assert.Empty(t, problems)

	m := newMoto(t)
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Stop(t.Context()) })
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	ec := ec2.NewFromConfig(cfg)
	zones, err := nightly.Zones(ctx, ec, 2, []string{"t3.large", "g4dn.xlarge"})
	require.NoError(t, err)
	require.Len(t, zones, 2)
	azs, err := ec.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{ZoneNames: zones})
	require.NoError(t, err)
	for _, z := range azs.AvailabilityZones {
		assert.NotEqual(t, "use1-az3", aws.ToString(z.ZoneId), "EKS does not support use1-az3")
	}
	_, err = nightly.Zones(ctx, ec, 2, []string{"g4dn.xlarge", "x9.nonexistent"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "offers g4dn.xlarge, x9.nonexistent")

	// A remote with one pushed commit; a second commit stays local.
	dir := t.TempDir()
	remote, work := filepath.Join(dir, "remote.git"), filepath.Join(dir, "work")
	git := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "--bare", remote)
	git("init", "-q", "-b", "main", work)
	require.NoError(t, os.WriteFile(filepath.Join(work, "a"), []byte("a"), 0o644))
	git("-C", work, "add", "a")
	git("-C", work, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "pushed")
	pushed := git("-C", work, "rev-parse", "HEAD")
	git("-C", work, "push", "-q", remote, "main")
	require.NoError(t, os.WriteFile(filepath.Join(work, "b"), []byte("b"), 0o644))
	git("-C", work, "add", "b")
	git("-C", work, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "local only")
	local := git("-C", work, "rev-parse", "HEAD")
	assert.NoError(t, nightly.RevisionFetchable(ctx, work, remote, pushed))
	err = nightly.RevisionFetchable(ctx, work, remote, local)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is on no branch or tag of "+remote)
}
