package static

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/test/testenv"
)

const module = "github.com/eks-mlops/eks-mlops-enterprise-grade/"

// TestImportGraph keeps the package layout's one-way arrows: the result vocabulary depends on nothing, the report
// never on the checks, the checks never on the scenarios that use them (a scenario's verdicts are check's), the
// engine never on the checks, the platform model never on the cluster.
func TestImportGraph(t *testing.T) {
	forbidden := map[string][]string{
		"harness/result":   {"harness/"},
		"harness/report":   {"harness/check", "harness/engine", "harness/cluster", "harness/platform"},
		"harness/check":    {"harness/scenario", "harness/cmd"},
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
				// A package and those under it: harness/check is not harness/checkov.
				p := module + strings.TrimSuffix(b, "/")
				assert.False(t, dep == p || strings.HasPrefix(dep, p+"/"), "%s must not depend on %s (it does, through %s)", pkg, b, dep)
			}
		}
	}
}

// smallCommands are commands make runs before bin/harness exists (beside its compile on a fresh machine), with the
// only packages outside the standard library they may import: a cluster, cloud SDK or chart library there would
// make them as slow to build as the harness.
var smallCommands = map[string][]string{
	"harness/cmd/runtimes": {module + "harness/cmd/runtimes", module + "harness/runtimes", module + "harness/pyenv",
		module + "harness/checkov", module + "harness/internal/proc", module + "harness/internal/digest",
		module + "harness/internal/usercache", "github.com/spf13/pflag"},
}

// heavyDeps is what of deps (import paths) is neither the standard library nor allowed.
func heavyDeps(deps, allowed []string) []string {
	var out []string
	for _, d := range deps {
		first, _, _ := strings.Cut(d, "/")
		if !strings.Contains(first, ".") {
			continue // the standard library (and its vendored golang.org/x, under vendor/)
		}
		if !slices.Contains(allowed, d) {
			out = append(out, d)
		}
	}
	return out
}

// TestSmallCommandsStaySmall: harness/cmd/runtimes imports nothing heavy (it builds in seconds, so make starts pip
// beside the harness's compile); a Kubernetes or AWS SDK import is named.
func TestSmallCommandsStaySmall(t *testing.T) {
	for pkg, allowed := range smallCommands {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Empty(t, heavyDeps(strings.Fields(string(out)), allowed), "%s imports more than it may", pkg)
	}
	// Broken: the same command importing client-go and moto's package.
	heavy := heavyDeps([]string{"fmt", "vendor/golang.org/x/net/idna", module + "harness/runtimes", "k8s.io/client-go/kubernetes",
		module + "harness/cloud/moto"}, smallCommands["harness/cmd/runtimes"])
	assert.Equal(t, []string{"k8s.io/client-go/kubernetes", module + "harness/cloud/moto"}, heavy)
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

// finding is one line of Go source a rule forbids.
type finding struct {
	rel  string
	line int
	text string
}

// scan returns every line matching re in the non-test Go files under root's dirs, except in files whose path
// (relative to root) skip accepts.
func scan(t *testing.T, root string, dirs []string, re *regexp.Regexp, skip func(rel string) bool) []finding {
	t.Helper()
	var out []finding
	for _, dir := range dirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if skip(rel) {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(string(data), "\n") {
				if re.MatchString(line) {
					out = append(out, finding{rel: rel, line: i + 1, text: strings.TrimSpace(line)})
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

// planted is a temporary tree holding one Go file at rel with body: the breaking case of a rule.
func planted(t *testing.T, rel, body string) string {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644))
	return root
}

var (
	processStart = regexp.MustCompile(`exec\.Command\(|exec\.CommandContext\(|os\.StartProcess\(|syscall\.ForkExec\(|syscall\.Exec\(|exec\.Cmd\{`)
	notProc      = func(rel string) bool { return strings.HasPrefix(rel, "harness/internal/proc/") }
)

// TestProcessesStartOnlyThroughTheSupervisor: no package of the harness starts a process itself; every long-running
// process goes through proc.Start (supervised: its death ends the run, named) and every command run to completion
// through proc.Command (its process group dies with the harness and with its context). What third-party libraries
// start inside themselves (kind's docker calls, net/http/cgi's git-http-backend) is theirs.
func TestProcessesStartOnlyThroughTheSupervisor(t *testing.T) {
	for _, f := range scan(t, testenv.Root(), []string{"harness"}, processStart, notProc) {
		t.Errorf("%s:%d starts a process: %s (use proc.Start for a long-running one, proc.Command for one run to completion)", f.rel, f.line, f.text)
	}
	assert.NotEmpty(t, scan(t, testenv.Root(), []string{"harness/internal/proc"}, processStart, func(string) bool { return false }),
		"harness/internal/proc starts no process: the scan looks in the wrong place")
	// Breaking case: a package starting a process of its own is found.
	root := planted(t, "harness/engine/x.go", "package engine\n\nfunc f() { _ = exec.Command(\"git\", \"status\") }\n")
	assert.Len(t, scan(t, root, []string{"harness"}, processStart, notProc), 1)
}

var (
	backendBranch = regexp.MustCompile(`(==|!=)\s*cluster\.(Embedded|Kind|Existing)\b|case\s+cluster\.(Embedded|Kind|Existing)\b|` +
		`(==|!=)\s*"(embedded|kind|existing)"|\.\(\s*(cluster\.(Scaler|Keeper|NodeRoller|Upgrader)|rollout\.Nodes|interface\s*\{)`)
	notCluster = func(rel string) bool { return strings.HasPrefix(rel, "harness/cluster/") }
)

// TestNoBranchingOnBackendNames: outside harness/cluster nothing compares a backend's name or type-asserts a
// capability; what a backend can do is asked of cluster.Of and the cluster.As* accessors (its declaration).
func TestNoBranchingOnBackendNames(t *testing.T) {
	for _, f := range scan(t, testenv.Root(), []string{"harness"}, backendBranch, notCluster) {
		t.Errorf("%s:%d branches on a backend's name or asserts a capability: %s (ask cluster.Of / cluster.As*)", f.rel, f.line, f.text)
	}
	for _, body := range []string{
		"package main\n\nfunc f(b string) bool { return b == cluster.Embedded }\n",
		"package main\n\nfunc f(c cluster.Cluster) { k, ok := c.(interface{ Keep() string }) }\n",
	} {
		assert.Len(t, scan(t, planted(t, "harness/cmd/harness/x.go", body), []string{"harness"}, backendBranch, notCluster), 1, "%s", body)
	}
}

var stepByName = regexp.MustCompile(`\.Names\[0\]|slices\.Equal\(\w+\.Names`)

// TestRunnersSelectStepsByPhase: no runner outside harness/check picks `harness check`'s steps by their names;
// they select by phase (check.Select / check.Except).
func TestRunnersSelectStepsByPhase(t *testing.T) {
	notCheck := func(rel string) bool { return strings.HasPrefix(rel, "harness/check/") }
	for _, f := range scan(t, testenv.Root(), []string{"harness", "test"}, stepByName, notCheck) {
		t.Errorf("%s:%d selects steps by name: %s (use check.Select / check.Except with a phase)", f.rel, f.line, f.text)
	}
	root := planted(t, "test/nightly/x.go", "package nightly\n\nfunc f(s check.Step) bool { return s.Names[0] != \"deploy\" }\n")
	assert.Len(t, scan(t, root, []string{"harness", "test"}, stepByName, notCheck), 1)
}

// verdictsOutsideCheck are the packages outside harness/check allowed to construct pass/fail/skip results, with
// how many constructions each may have. It is empty: every verdict lives in harness/check. The engine reports
// what its deploy, CRD install and workflow manifests did (engine.Deployment, CRDInstall, WorkflowApply), the
// apply tier what it did (infra.Outcome), a node group's roll what it did and saw (rollout.Report), a scenario
// step its outcome; check.Deploy, CRDs, Workflows, ApplyTier, Roll and ScenarioStep judge them. The workload tier
// and the rehearsal live beneath check (harness/check/workload, harness/check/rehearse).
var verdictsOutsideCheck = map[string]int{}

var constructsResult = regexp.MustCompile(`result\.(Pass|Fail|Skip|SkippedPart)\(|result\.Result\{`)

// verdictsOutside counts result constructions per package outside harness/check (and harness/result itself).
func verdictsOutside(t *testing.T, root string) map[string]int {
	inCheck := func(rel string) bool {
		return strings.HasPrefix(rel, "harness/check/") || strings.HasPrefix(rel, "harness/result/")
	}
	got := map[string]int{}
	for _, f := range scan(t, root, []string{"harness"}, constructsResult, inCheck) {
		got[filepath.Dir(f.rel)] += len(constructsResult.FindAllString(f.text, -1))
	}
	return got
}

// TestVerdictsLiveInCheck: results are constructed in harness/check (policy and wiring beneath it) and nowhere
// else (verdictsOutsideCheck is empty).
func TestVerdictsLiveInCheck(t *testing.T) {
	judge := func(got map[string]int) (errs []string) {
		for pkg, n := range got {
			allowed, listed := verdictsOutsideCheck[pkg]
			switch {
			case !listed:
				errs = append(errs, fmt.Sprintf("%s constructs %d result(s): verdicts live in harness/check (let the package return what it saw, and judge it there)", pkg, n))
			case n > allowed:
				errs = append(errs, fmt.Sprintf("%s constructs %d results, more than the %d it is allowed while its verdicts move to harness/check", pkg, n, allowed))
			case n < allowed:
				t.Logf("%s constructs %d results, fewer than the %d listed: lower verdictsOutsideCheck", pkg, n, allowed)
			}
		}
		return errs
	}
	for _, e := range judge(verdictsOutside(t, testenv.Root())) {
		t.Error(e)
	}
	root := planted(t, "harness/smoke/x.go", "package smoke\n\nfunc f() { _ = result.Fail(\"x\", nil, \"y\") }\n")
	assert.Len(t, judge(verdictsOutside(t, root)), 1, "a new package constructing a result is caught")
}

// crdgenReads are the API packages tools/crdgen hands controller-tools, which parses and type-checks them in process:
// compiling them into crdgen too would compile their whole dependency graphs (Argo CD's API package alone ~1,200
// packages) for nothing on a fresh machine.
var crdgenReads = []string{"github.com/argoproj/argo-cd/v3/pkg/apis/", "github.com/ray-project/kuberay/ray-operator/apis/",
	"sigs.k8s.io/karpenter/pkg/apis/", module + "tools/crdgen/kserve/"}

// compiledAPIs is what of deps (import paths) is one of crdgenReads' packages.
func compiledAPIs(deps []string) []string {
	var out []string
	for _, d := range deps {
		for _, p := range crdgenReads {
			if strings.HasPrefix(d+"/", p) {
				out = append(out, d)
			}
		}
	}
	return out
}

// TestCrdgenDoesNotCompileWhatItReads: crdgen's build imports none of the API packages it reads from source; its
// go.mod still pins them (the tools build tag's imports.go).
func TestCrdgenDoesNotCompileWhatItReads(t *testing.T) {
	list := func(args ...string) []string {
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, args...)...)
		cmd.Dir = filepath.Join(testenv.Root(), "tools", "crdgen")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	assert.Empty(t, compiledAPIs(list(".")), "tools/crdgen compiles the API packages controller-tools reads from source")
	pinned := strings.Join(compiledAPIs(list("-tags", "tools", ".")), "\n") + "\n"
	for _, p := range crdgenReads {
		assert.Contains(t, pinned, p, "imports.go (tools build tag) pins the module of %s", p)
	}
	// Broken: crdgen importing Argo CD's API package again.
	assert.Equal(t, []string{"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"},
		compiledAPIs([]string{"fmt", "sigs.k8s.io/controller-tools/pkg/crd", "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"}))
}
