package aws

import (
	"fmt"

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
