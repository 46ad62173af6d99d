package nightly

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSkippedSmokeIsIncomplete: a nightly on EKS whose Flyte smoke could not run (no image) and whose KServe
// smoke then had no model is incomplete, naming both, unless they are declared off.
func TestSkippedSmokeIsIncomplete(t *testing.T) {
	assert.Equal(t, []string{"flyte", "kserve"}, Incomplete([]string{"flyte", "kserve"}, ""))
	assert.Equal(t, []string{"kserve"}, Incomplete([]string{"flyte", "kserve"}, "flyte"))
	assert.Empty(t, Incomplete([]string{"flyte", "kserve"}, "flyte, kserve"))
	assert.Empty(t, Incomplete(nil, ""))
}
