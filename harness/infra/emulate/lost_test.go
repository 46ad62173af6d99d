package emulate

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// lossy is moto whose answer to the first request of one operation is lost after moto carried it out (the
// connection reset while the answer was on its way), as moto under load does: the SDK sends the request again.
type lossy struct {
	*moto.Moto
	mu   sync.Mutex
	lose string
	lost bool
	ops  []string
}

func (l *lossy) Config(ctx context.Context) (aws.Config, error) {
	cfg, err := l.Moto.Config(ctx)
	if err != nil {
		return cfg, err
	}
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = lossyClient{l: l, next: next}
	return cfg, nil
}

type lossyClient struct {
	l    *lossy
	next aws.HTTPClient
}

func (c lossyClient) Do(r *http.Request) (*http.Response, error) {
	op := awsmiddleware.GetOperationName(r.Context())
	c.l.mu.Lock()
	c.l.ops = append(c.l.ops, op)
	lose := op == c.l.lose && !c.l.lost
	c.l.lost = c.l.lost || lose
	c.l.mu.Unlock()
	resp, err := c.next.Do(r)
	if err != nil || !lose {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// TestEveryCreateSurvivesALostAnswer: for every operation that changes something in the emulated apply, the first
// answer is lost after moto carried the request out, so the SDK sends it again. The apply must still succeed with
// exactly one resource per declared instance (nothing tagged with the run that the apply does not hold, so its
// teardown leaves nothing for the leak scan). Before the repair (lost.go), CreateVpc left a second VPC, CreateRole was
// refused as EntityAlreadyExists, CreateSubnet as InvalidSubnet.Conflict, and so on. Then: a conflict with no
// lost answer (the same apply twice, nothing destroyed) stays an error, and nothing of the first apply is touched.
func TestEveryCreateSurvivesALostAnswer(t *testing.T) {
	venv := filepath.Join(repoRoot(), ".venv")
	if _, err := os.Stat(filepath.Join(venv, "bin", "moto_server")); err != nil {
		t.Skip("skipped: moto not installed in .venv (make runtimes)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	m, err := moto.New(moto.Config{Venv: venv, LogFile: filepath.Join(t.TempDir(), "moto.log")})
	require.NoError(t, err)
	require.NoError(t, m.Start(ctx))
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	p, err := platform.Load(repoRoot(), "local")
	require.NoError(t, err)
	cfg, err := m.Config(ctx)
	require.NoError(t, err)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	apply := func(t *testing.T, lose, runID string) (*lossy, *Result, error) {
		l := &lossy{Moto: m, lose: lose}
		var log strings.Builder
		res, err := Create(ctx, p, l, runID, expires, &log)
		t.Log(log.String())
		return l, res, err
	}
	destroy := func(t *testing.T, res *Result, runID string) {
		out, err := reap.Delete(ctx, cfg, res.Resources())
		require.NoError(t, err)
		require.Empty(t, out.Failed)
		leaks, err := reap.Leaks(ctx, cfg, runID)
		require.NoError(t, err)
		require.Empty(t, leaks, "left behind after the teardown of %s", runID)
	}
	strays := func(t *testing.T, res *Result, runID string) []string {
		tagged, err := reap.Leaks(ctx, cfg, runID)
		require.NoError(t, err)
		held := map[string]bool{}
		for _, r := range res.Resources() {
			held[r.Type+" "+r.ID] = true
		}
		var out []string
		for _, r := range tagged {
			if !held[r.Type+" "+r.ID] {
				out = append(out, r.ARN)
			}
		}
		return out
	}

	l, res, err := apply(t, "", "clean")
	require.NoError(t, err)
	require.Empty(t, strays(t, res, "clean"))
	var ops []string
	for _, op := range l.ops {
		if !slices.Contains(ops, op) && !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List") {
			ops = append(ops, op)
		}
	}
	require.Contains(t, ops, "CreateVpc")
	require.Contains(t, ops, "CreateRole")
	destroy(t, res, "clean")

	for n, op := range ops {
		t.Run(op, func(t *testing.T) {
			runID := fmt.Sprintf("lost-%d", n)
			l, res, err := apply(t, op, runID)
			t.Cleanup(func() { // after a failure too: the next case starts from nothing
				if res != nil {
					_, _ = reap.Delete(context.Background(), cfg, res.Resources())
				}
			})
			require.True(t, l.lost, "the answer to %s was lost", op)
			require.NoError(t, err, "the apply with the first answer to %s lost", op)
			assert.Empty(t, strays(t, res, runID), "what the lost attempt of %s created is still there", op)
			destroy(t, res, runID)
		})
	}

	t.Run("a conflict without a lost answer stays an error", func(t *testing.T) {
		_, first, err := apply(t, "", "twice")
		require.NoError(t, err)
		before, err := reap.Leaks(ctx, cfg, "twice")
		require.NoError(t, err)
		_, second, err := apply(t, "", "twice")
		require.Error(t, err, "the same apply again, nothing destroyed: its names are taken")
		after, err := reap.Leaks(ctx, cfg, "twice")
		require.NoError(t, err)
		held := map[string]bool{}
		for _, r := range after {
			held[r.ARN] = true
		}
		for _, r := range before {
			assert.True(t, held[r.ARN], "the first apply's %s was deleted", r.ARN)
		}
		_, _ = reap.Delete(ctx, cfg, second.Resources())
		destroy(t, first, "twice")
	})
}
