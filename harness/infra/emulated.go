package infra

import (
	"context"
	"fmt"
	"io"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/reap"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra/emulate"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
)

// EmulateApply is the apply tier's stand-in where the Terraform AWS provider cannot be installed: emulate.Create on
// the emulator c (started), returned as an Up whose Teardown deletes exactly what was created (as `terraform
// destroy` deletes its state) and stops c; the flow after apply then runs on what exists. The Emulated lists what
// was created and what not, with the reason.
func EmulateApply(ctx context.Context, p *platform.Platform, c cloud.Cloud, runID, expiresAt string, progress io.Writer) (*Up, *emulate.Emulated, error) {
	res, err := emulate.Create(ctx, p, c, runID, expiresAt, progress)
	if res == nil {
		return nil, nil, err
	}
	cfg, cerr := c.Config(ctx)
	if cerr != nil {
		return nil, &res.Emulated, cerr
	}
	td := NewTeardownFunc("destroy what the emulated apply created (as terraform destroy deletes its state)", func(ctx context.Context) error {
		out, err := reap.Delete(ctx, cfg, res.Resources())
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("not deleted: %v", out.Failed)
		}
		return err
	}, nil, c, progress)
	return &Up{Shape: res.Shape, Bridge: p.Bridge, Cloud: c, Teardown: td, Outputs: res.Outputs}, &res.Emulated, err
}
