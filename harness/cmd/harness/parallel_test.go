package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

// Scenarios run at once, but their output reads as if they had run one after another, and each outcome stays with
// its scenario; no more than --parallel run at a time. The breaking case: with the held output written as it
// comes, the lines of the later (faster) scenarios come first and the test fails.
func TestParallelScenariosKeepTheirOrder(t *testing.T) {
	var scs []*scenario.Scenario
	for i := range 5 {
		s := &scenario.Scenario{}
		s.Metadata.Name = fmt.Sprintf("s%d", i)
		scs = append(scs, s)
	}
	var running, most atomic.Int32
	var sb strings.Builder
	outs := runAll(context.Background(), scs, make(chan struct{}, 3), &sb, nil, func(_ context.Context, s *scenario.Scenario, w io.Writer) ([]result.Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		// The first scenario is the slowest: everything after it finishes first and must wait for it.
		i := int(s.Metadata.Name[1] - '0')
		fmt.Fprintf(w, "%s begins\n", s.Metadata.Name)
		time.Sleep(time.Duration(5-i) * 20 * time.Millisecond)
		fmt.Fprintf(w, "%s ends\n", s.Metadata.Name)
		if i == 3 {
			return nil, errors.New("broken")
		}
		return []result.Result{result.Pass(s.Metadata.Name, "ok")}, nil
	})
	want := ""
	for i := range 5 {
		want += fmt.Sprintf("s%d begins\ns%d ends\n", i, i)
	}
	assert.Equal(t, want, sb.String())
	assert.EqualValues(t, 3, most.Load(), "at most --parallel scenarios at once, and that many")
	require.Len(t, outs, 5)
	for i, o := range outs {
		if i == 3 {
			assert.EqualError(t, o.err, "broken")
			continue
		}
		require.NoError(t, o.err)
		assert.Equal(t, scs[i].Metadata.Name, o.results[0].Name)
	}
}
