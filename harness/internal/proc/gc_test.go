package proc

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The harness's Go servers get a collector tuned for them, but a GOGC or GOMEMLIMIT the user set is theirs. The
// breaking case: an override appended after the user's (the last one wins in a process's environment).
func TestGCTunedKeepsTheUsersSettings(t *testing.T) {
	assert.Equal(t, []string{"PATH=/bin", "GOGC=" + GCPercent, "GOMEMLIMIT=3GiB"}, GCTuned([]string{"PATH=/bin"}, "3GiB"))
	assert.Equal(t, []string{"GOGC=50", "GOMEMLIMIT=3GiB"}, GCTuned([]string{"GOGC=50"}, "3GiB"))
	assert.Equal(t, []string{"GOMEMLIMIT=1GiB", "GOGC=" + GCPercent}, GCTuned([]string{"GOMEMLIMIT=1GiB"}, "3GiB"))
	assert.Equal(t, []string{"GOGC=off"}, GCTuned([]string{"GOGC=off"}, ""))
}
