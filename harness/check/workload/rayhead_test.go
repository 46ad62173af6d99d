package workload

import (
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// TestRayHeadStartsAgainWhenAPortIsTaken: the first head's raylet is given a port something else holds (as an
// outgoing connection can take a chosen port before Ray binds it). The dashboard answers, but the node never comes
// alive and `ray start --block` gives up: the start sees that (not `serve start` a minute later), says the raylet's
// own reason, and starts the head again on fresh ports, which then serves.
func TestRayHeadStartsAgainWhenAPortIsTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped: starts a Ray head twice (-short)")
	}
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	p, err := platform.Load(root, "local")
	require.NoError(t, err)

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	var mu sync.Mutex
	calls := 0
	orig := freePorts
	freePorts = func(n int) ([]int, error) {
		ps, err := orig(n)
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 1 && err == nil {
			ps[6] = taken.Addr().(*net.TCPAddr).Port // node-manager-port: the raylet's gRPC server
		}
		return ps, err
	}
	defer func() { freePorts = orig }()

	var progress []string
	tier, err := New(Config{Platform: p, Dir: t.TempDir(), VenvDir: filepath.Join(root, ".venv-workloads"),
		Progress: func(s string) { mu.Lock(); progress = append(progress, s); mu.Unlock(); t.Log(s) }})
	require.NoError(t, err)
	defer tier.Stop()
	env, err := tier.runtime(t.Context(), "ray")
	if _, ok := err.(skipError); ok {
		t.Skipf("skipped: %v", err)
	}
	require.NoError(t, err)

	h, err := tier.startHead(t.Context(), env)
	require.NoError(t, err, "the second start, on fresh ports")
	assert.Equal(t, 2, calls, "ports chosen twice")
	assert.True(t, headNodeAlive(t.Context(), http.DefaultClient, h.dashboard), "the second head's node is alive")
	mu.Lock()
	all := strings.Join(progress, "\n")
	mu.Unlock()
	assert.Contains(t, all, "did not come up; starting it again on fresh ports. The first start: Ray head not up",
		"the start saw the dead node itself, not `serve start` after its minute")
	assert.Contains(t, all, "raylet.out", "the raylet's own words about the first start")
	assert.Contains(t, all, "grpc server", "the raylet's own words about the first start")
}
