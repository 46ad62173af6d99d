package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/scenario"
)

// syncWriter is a strings.Builder safe for the check's and the scenarios' goroutines.
type syncWriter struct {
	mu sync.Mutex
	sb strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.String()
}

func testSet(t *testing.T, names ...string) *scenarioSet {
	set := &scenarioSet{f: clusterFlags{backend: "embedded"}, parallel: 2, reportDir: t.TempDir()}
	for _, n := range names {
		s := &scenario.Scenario{}
		s.Metadata.Name = n
		set.scenarios = append(set.scenarios, s)
	}
	return set
}

// Scenarios given to `harness check` run while the check does: those that start from an empty cluster at once, one
// at a time while the check deploys, then --parallel at once; those that deploy the platform once the check's
// deploy has ended (its snapshot is what they fork). None of their output comes before the check's own: it is held,
// then reads as `harness run`'s. The breaking cases: scenarios started only when the check ends (the test fails its
// wait), more than one beside the check's deploy, a deploying scenario started before the deploy ended, or their
// output written as it comes (a scenario's line among the check's).
func TestScenariosRunBesideTheCheck(t *testing.T) {
	set := testSet(t, "a", "d", "b")
	set.scenarios[1].Spec.Steps = []scenario.Step{{Name: "deploy", Deploy: &scenario.Deploy{}}}
	set.parallel = 3
	began := make(chan string, 3)
	release := make(chan struct{})
	set.runOne = func(ctx context.Context, f clusterFlags, s *scenario.Scenario) ([]result.Result, error) {
		fmt.Fprintf(f.stdout(), "%s begins\n", s.Metadata.Name)
		began <- s.Metadata.Name
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return []result.Result{result.Pass(s.Metadata.Name+"/1", "ok")}, nil
	}
	var out syncWriter
	b := newBesideCheck(context.Background(), set, &out)
	defer b.stop()
	require.True(t, b.alongside(), "the embedded backend gives each scenario its own cluster")
	beginning := func(want ...string) {
		t.Helper()
		var got []string
		for range want {
			select {
			case n := <-began:
				got = append(got, n)
			case <-time.After(10 * time.Second):
				t.Fatalf("began %v, want %v", got, want)
			}
		}
		assert.ElementsMatch(t, want, got)
		select {
		case n := <-began:
			t.Fatalf("%s began too, beside %v", n, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.begin() // the check starts
	b.begin() // once only
	beginning("a")
	fmt.Fprintln(&out, "deploy passed")
	b.release() // the check's deploy ended, its snapshot taken: every slot, and the deploying scenario
	beginning("d", "b")
	fmt.Fprintln(&out, "probes passed") // a check step after the deploy, while the scenarios run
	fmt.Fprintln(&out, "report: x")
	assert.Equal(t, "deploy passed\nprobes passed\nreport: x\n", out.String(), "the scenarios' lines are held until the check's are out")
	close(release)
	require.NoError(t, b.wait())
	got := out.String()
	assert.True(t, strings.HasPrefix(got, "deploy passed\nprobes passed\nreport: x\nscenario a"), got)
	assert.Less(t, strings.Index(got, "a begins"), strings.Index(got, "d begins"), "in file order")
	assert.Less(t, strings.Index(got, "d begins"), strings.Index(got, "b begins"), "in file order")
	assert.Contains(t, got, "3 passed, 0 failed, 0 skipped")
	assert.FileExists(t, set.reportDir+"/junit-d.xml")
}

// A check that ends early (an error, an interrupt) stops the scenarios running beside it and waits for them to
// end (their clusters stopped), letting through what they said; scenarios not started are never started. The
// breaking case: stop returning while a scenario still runs (its clean-up has not happened when stop returns).
func TestAnEarlyEndOfTheCheckStopsItsScenarios(t *testing.T) {
	set := testSet(t, "a", "d") // d deploys: it waits for the check's deploy, which never ends
	set.scenarios[1].Spec.Steps = []scenario.Step{{Name: "deploy", Deploy: &scenario.Deploy{}}}
	var cleaned bool
	started := make(chan struct{})
	set.runOne = func(ctx context.Context, f clusterFlags, s *scenario.Scenario) ([]result.Result, error) {
		if s.Metadata.Name == "d" {
			t.Error("a deploying scenario started though the check's deploy never ended")
		}
		fmt.Fprintln(f.stdout(), "a begins")
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // its cluster stopping
		cleaned = true
		return nil, ctx.Err()
	}
	var out syncWriter
	b := newBesideCheck(context.Background(), set, &out)
	b.begin()
	<-started
	b.stop()
	assert.True(t, cleaned, "stop waits for the scenarios' clean-up")
	assert.Contains(t, out.String(), "a begins", "nothing they said is lost")

	never := testSet(t, "n")
	never.runOne = func(context.Context, clusterFlags, *scenario.Scenario) ([]result.Result, error) {
		t.Error("a scenario started after the check stopped")
		return nil, nil
	}
	nb := newBesideCheck(context.Background(), never, &out)
	nb.stop()
	nb.begin()
	time.Sleep(20 * time.Millisecond)
}

// The exit of a check with scenarios: either failing fails it; a scenario that could not run is an error the
// output names; the check's "incomplete" stands only when the scenarios passed.
func TestCheckAndScenariosCombineTheirVerdicts(t *testing.T) {
	var out strings.Builder
	broken := errors.New("scenario x: cluster did not start")
	assert.NoError(t, combine(&out, nil, nil))
	assert.ErrorIs(t, combine(&out, nil, errChecksFailed), errChecksFailed)
	assert.ErrorIs(t, combine(&out, errIncomplete, errChecksFailed), errChecksFailed)
	assert.ErrorIs(t, combine(&out, errIncomplete, nil), errIncomplete)
	assert.ErrorIs(t, combine(&out, nil, broken), broken)
	assert.Empty(t, out.String())
	assert.ErrorIs(t, combine(&out, errChecksFailed, broken), errChecksFailed)
	assert.Contains(t, out.String(), "cluster did not start")
	// A scenario's failed step with a failed check: one failure, said once by the summaries.
	out.Reset()
	assert.ErrorIs(t, combine(&out, errChecksFailed, errChecksFailed), errChecksFailed)
	assert.Empty(t, out.String())
}

// A check with scenarios on a given cluster runs them after it: they would share its cluster.
func TestScenariosOnAGivenClusterRunAfterTheCheck(t *testing.T) {
	set := testSet(t, "a")
	set.f.backend = "existing"
	assert.False(t, newBesideCheck(context.Background(), set, &strings.Builder{}).alongside())
	assert.Nil(t, newBesideCheck(context.Background(), testSet(t), &strings.Builder{}), "no scenarios, nothing beside")
}
