package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAnApplicationWithAComparisonErrorIsNotDone: Argo CD keeps reporting Synced and Healthy while it cannot
// compare (a server-side dry run refused on an immutable field): such an Application is not done, and the error is
// what its summary says; a warning condition does not hold it back; an Application still compared with another
// sync's repository is not done either.
func TestAnApplicationWithAComparisonErrorIsNotDone(t *testing.T) {
	app := func(conds ...map[string]any) map[string]any {
		cs := make([]any, len(conds))
		for i, c := range conds {
			cs[i] = c
		}
		return map[string]any{"status": map[string]any{
			"sync":       map[string]any{"status": "Synced", "comparedTo": map[string]any{"source": map[string]any{"repoURL": "http://new"}}},
			"health":     map[string]any{"status": "Healthy"},
			"conditions": cs,
		}}
	}
	assert.True(t, readState(app(), true).done())
	assert.True(t, readState(app(map[string]any{"type": "SharedResourceWarning", "message": "x"}), true).done())
	st := readState(app(map[string]any{"type": "ComparisonError", "message": `StatefulSet.apps "flyte-db" is invalid: spec: Forbidden: updates to statefulset spec`}), true)
	assert.False(t, st.done())
	assert.Contains(t, st.summary(), "ComparisonError: StatefulSet.apps \"flyte-db\" is invalid: spec: Forbidden")
	st = readState(app(), true)
	st.stale = true
	assert.False(t, st.done())
}
