package static

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

const module = "github.com/eks-mlops/eks-mlops-enterprise-grade/"

// TestImportGraph keeps the package layout's one-way arrows: the result vocabulary depends on nothing, the report
// and the scenarios never on the checks, the engine never on the checks, the platform model never on the cluster.
func TestImportGraph(t *testing.T) {
	forbidden := map[string][]string{
		"harness/result":   {"harness/"},
		"harness/report":   {"harness/check", "harness/engine", "harness/cluster", "harness/platform"},
		"harness/scenario": {"harness/check"},
		"harness/engine":   {"harness/check", "harness/report"},
		"harness/platform": {"harness/cluster", "harness/engine", "harness/check"},
		"harness/gpu":      {"harness/"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+pkg {
				continue
			}
			for _, b := range bad {
				assert.False(t, strings.HasPrefix(dep, module+b), "%s must not depend on %s (it does, through %s)", pkg, b, dep)
			}
		}
	}
}

// TestTerraformIsReadOnlyByThePlatformModel: after the platform model is built nothing reads terraform/ again:
// only harness/shape (the HCL reader) and harness/platform (the model) load it.
func TestTerraformIsReadOnlyByThePlatformModel(t *testing.T) {
	root := testenv.Root()
	err := filepath.WalkDir(filepath.Join(root, "harness"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "harness/shape/") || strings.HasPrefix(rel, "harness/platform/") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, call := range []string{"shape.Load(", "shape.LoadFiles(", "platform.Load("} {
			if strings.Contains(string(data), call) && !(call == "platform.Load(" && strings.HasPrefix(rel, "harness/cmd/")) {
				t.Errorf("%s calls %s: the platform model is built once, in cmd, and passed down", rel, call)
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestProcessesStartOnlyThroughTheSupervisor: no package of the harness starts a process itself; every long-running
// process goes through proc.Start (supervised: its death ends the run, named) and every command run to completion
// through proc.Command (its process group dies with the harness and with its context). What third-party libraries
// start inside themselves (kind's docker calls, net/http/cgi's git-http-backend) is theirs.
func TestProcessesStartOnlyThroughTheSupervisor(t *testing.T) {
	root := testenv.Root()
	starts := []string{"exec.Command(", "exec.CommandContext(", "os.StartProcess(", "syscall.ForkExec(", "syscall.Exec(", "exec.Cmd{"}
	var seen int
	err := filepath.WalkDir(filepath.Join(root, "harness"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, call := range starts {
			if !strings.Contains(string(data), call) {
				continue
			}
			if strings.HasPrefix(rel, "harness/internal/proc/") {
				seen++
				continue
			}
			t.Errorf("%s calls %s: start processes with proc.Start (long-running, supervised) or proc.Command (run to completion)", rel, call)
		}
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, seen, "harness/internal/proc starts no process: the scan looks in the wrong place")
}

// TestNoBranchingOnBackendNames: outside harness/cluster nothing compares a backend's name or type-asserts a
// capability; what a backend can do is asked of cluster.Of and the cluster.As* accessors (its declaration).
func TestNoBranchingOnBackendNames(t *testing.T) {
	root := testenv.Root()
	bad := regexp.MustCompile(`(==|!=)\s*cluster\.(Embedded|Kind|Existing)\b|case\s+cluster\.(Embedded|Kind|Existing)\b|` +
		`(==|!=)\s*"(embedded|kind|existing)"|\.\(\s*(cluster\.(Scaler|Keeper|NodeRoller|Upgrader)|rollout\.Nodes|interface\s*\{)`)
	err := filepath.WalkDir(filepath.Join(root, "harness"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "harness/cluster/") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(data), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d branches on a backend's name or asserts a capability: %s (ask cluster.Of / cluster.As*)", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestRunnersSelectStepsByPhase: no runner outside harness/check picks `harness check`'s steps by their names;
// they select by phase (check.Select / check.Except).
func TestRunnersSelectStepsByPhase(t *testing.T) {
	root := testenv.Root()
	bad := regexp.MustCompile(`\.Names\[0\]|slices\.Equal\(\w+\.Names`)
	for _, top := range []string{"harness", "test"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(rel, "harness/check/") || rel == "test/static/architecture_test.go" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				if bad.MatchString(line) {
					t.Errorf("%s:%d selects steps by name: %s (use check.Select / check.Except with a phase)", rel, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
}

// verdictsOutsideCheck are the packages outside harness/check that still construct pass/fail/skip results, with
// how many constructions each has: the verdicts on their own actions (the engine's deploy, CRD install and
// Karpenter start; the workload tier's runs; the rehearsal's plan and in-place upgrade; a node-group roll; the
// apply tier; a scenario step's expectation; the CLI's step error) that have not moved into check yet. The list
// may only shrink: a new package, or more constructions in a listed one, fails the test.
var verdictsOutsideCheck = map[string]int{
	"harness/engine":      36,
	"harness/workload":    48,
	"harness/rehearse":    34,
	"harness/rollout":     12,
	"harness/infra":       4,
	"harness/scenario":    3,
	"harness/cmd/harness": 2,
}

// TestVerdictsLiveInCheck: results are constructed in harness/check (policy and wiring beneath it) and, for now,
// only in the packages of verdictsOutsideCheck, no more often than listed there.
func TestVerdictsLiveInCheck(t *testing.T) {
	root := testenv.Root()
	construct := regexp.MustCompile(`result\.(Pass|Fail|Skip|SkippedPart)\(|result\.Result\{`)
	got := map[string]int{}
	err := filepath.WalkDir(filepath.Join(root, "harness"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		pkg := filepath.Dir(rel)
		if pkg == "harness/check" || strings.HasPrefix(pkg, "harness/check/") || pkg == "harness/result" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got[pkg] += len(construct.FindAll(data, -1))
		return nil
	})
	require.NoError(t, err)
	for pkg, n := range got {
		if n == 0 {
			continue
		}
		allowed, listed := verdictsOutsideCheck[pkg]
		switch {
		case !listed:
			t.Errorf("%s constructs %d result(s): verdicts live in harness/check (let the package return what it saw, and judge it there)", pkg, n)
		case n > allowed:
			t.Errorf("%s constructs %d results, more than the %d it is allowed while its verdicts move to harness/check", pkg, n, allowed)
		case n < allowed:
			t.Logf("%s constructs %d results, fewer than the %d listed: lower verdictsOutsideCheck", pkg, n, allowed)
		}
	}
}
