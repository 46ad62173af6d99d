package aws

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// workflow returns a copy of a workflow manifest's object as the platform model holds it (the GitOps Bridge's
// names substituted).
func workflow(p *platform.Platform, kind, name string) (*unstructured.Unstructured, error) {
	for _, o := range p.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o.DeepCopy(), nil
		}
	}
	return nil, fmt.Errorf("no %s %s in the workflows", kind, name)
}

// commitUnderTest is the commit the root Application tracks: HARNESS_COMMIT (CI sets it to the pushed commit), or
// the repository's HEAD.
func commitUnderTest(t *testing.T, root string) string {
	t.Helper()
	if c := os.Getenv("HARNESS_COMMIT"); c != "" {
		return c
	}
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("the commit under test: set HARNESS_COMMIT or run from a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}
