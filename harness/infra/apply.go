package infra

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/gruntwork-io/terratest/modules/terraform"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
)

// SkipError says the apply tier cannot run on this machine; Reason is the skip line.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// ApplyOptions configure one apply-tier run.
type ApplyOptions struct {
	// Source is the Terraform root module (terraform/); it is copied, never changed.
	Source string
	Env    string
	// Endpoint is the AWS emulator's URL; empty applies to real AWS with the environment's credentials.
	Endpoint string
	// Binary is terraform or tofu; default: tofu or terraform from ./bin or PATH.
	Binary string
	// CLIConfig is a Terraform CLI config file (provider mirror, plugin cache) for air-gapped machines.
	CLIConfig string
	// Region for the emulator's provider override.
	Region string
	// Real AWS only: Profile is passed to Terraform as AWS_PROFILE (the same credentials the account check
	// used), and AllowedAccount becomes the provider's allowed_account_ids, so Terraform itself refuses any other
	// account.
	Profile, AllowedAccount string
	// Vars are extra Terraform variables (beside env/<env>.tfvars and artifacts_force_destroy=true).
	Vars map[string]any
	// Emulator says the run targets an AWS emulator: credentials that look real are refused before anything
	// runs (set by Apply when Endpoint is given, and by ApplyTier for every backend but aws).
	Emulator bool
}

// Applied is what an apply produced.
type Applied struct {
	Outputs map[string]any
}

// FindBinary returns tofu or terraform from ./bin or PATH.
func FindBinary() (string, error) {
	for _, name := range []string{"bin/tofu", "bin/terraform"} {
		if abs, err := filepath.Abs(name); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs, nil
			}
		}
	}
	for _, name := range []string{"tofu", "terraform"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", &SkipError{Reason: "no tofu or terraform binary (`make tools` builds OpenTofu into ./bin)"}
}

// emulatorOverride points the AWS provider at the emulator, written beside a copy of the module.
func emulatorOverride(endpoint, region string) string {
	var eps strings.Builder
	for _, svc := range []string{"ec2", "eks", "iam", "kms", "rds", "s3", "sts", "sso"} {
		fmt.Fprintf(&eps, "    %s = %q\n", svc, endpoint)
	}
	return fmt.Sprintf(`# Written by the harness into a temporary copy; never committed.
provider "aws" {
  region                      = %q
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
%s  }
}
`, region, eps.String())
}

// accountGuard makes the AWS provider refuse any account but the one named (real AWS runs).
func accountGuard(account string) string {
	return fmt.Sprintf("# Written by the harness into a temporary copy; never committed.\nprovider \"aws\" {\n  allowed_account_ids = [%q]\n}\n", account)
}

// Apply runs init, apply, output, a second plan that must show no changes, and destroy (always, deferred), on a
// temporary copy of the module with the emulator wired in through an override file. Where the hashicorp/aws
// provider cannot be installed, it returns a *SkipError saying why.
func Apply(ctx context.Context, o ApplyOptions) (*Applied, error) {
	o.Emulator = o.Emulator || o.Endpoint != ""
	ws, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	applied, err := ws.Apply(ctx, o.Endpoint)
	return applied, errors.Join(err, ws.Close())
}

// Workspace is an initialised temporary copy of the root module; Close removes it.
type Workspace struct {
	dir            string
	region         string
	allowedAccount string
	opts           *terraform.Options
	t              *runT
	// destroyFailed keeps the copy (and its state) on Close: it is what destroys the resources by hand.
	destroyFailed bool
}

// Prepare copies the module to a temporary directory and runs init there — before any AWS backend is started,
// so a machine where the provider cannot be installed skips at once (*SkipError) without starting an emulator.
func Prepare(ctx context.Context, o ApplyOptions) (ws *Workspace, err error) {
	if o.Emulator {
		if err := cloud.RefuseRealCredentials(); err != nil {
			return nil, err
		}
	}
	if o.Binary == "" {
		if o.Binary, err = FindBinary(); err != nil {
			return nil, err
		}
	}
	if o.Region == "" {
		o.Region = cloud.DefaultRegion
	}
	dir, err := os.MkdirTemp("", "harness-terraform-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.CopyFS(dir, os.DirFS(o.Source)); err != nil {
		return nil, fmt.Errorf("copy %s: %w", o.Source, err)
	}
	env := map[string]string{"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
	if o.CLIConfig != "" {
		env["TF_CLI_CONFIG_FILE"] = o.CLIConfig
	}
	if o.Profile != "" {
		env["AWS_PROFILE"] = o.Profile
	}
	env["AWS_REGION"] = o.Region
	opts := &terraform.Options{TerraformDir: dir, TerraformBinary: o.Binary, EnvVars: env, NoColor: true,
		VarFiles: []string{filepath.Join(dir, "env", o.Env+".tfvars")}, Logger: logger.Discard,
		Vars:       map[string]any{"artifacts_force_destroy": true},
		MaxRetries: 3, RetryableTerraformErrors: map[string]string{
			"(?i)RequestError: send request failed": "transient network error",
			"(?i)connection reset by peer":          "transient network error",
			"(?i)ThrottlingException":               "API throttling",
		}}
	for k, v := range o.Vars {
		opts.Vars[k] = v
	}
	t := &runT{}
	if out, err := terraform.InitE(t, opts); err != nil {
		if reason, ok := providerUnavailable(out + err.Error()); ok {
			return nil, &SkipError{Reason: "hashicorp/aws provider not installable (" + reason + ")"}
		}
		return nil, fmt.Errorf("terraform init: %w", err)
	}
	return &Workspace{dir: dir, region: o.Region, allowedAccount: o.AllowedAccount, opts: opts, t: t}, nil
}

// Close removes the temporary copy — unless destroy failed: then the copy and its state stay, and the error
// says where.
func (w *Workspace) Close() error {
	if w.destroyFailed {
		return fmt.Errorf("destroy failed: kept %s (its terraform state); run `terraform destroy` there", w.dir)
	}
	return os.RemoveAll(w.dir)
}

// Dir is the temporary copy (and its state).
func (w *Workspace) Dir() string { return w.dir }

// Apply applies against endpoint, reads the outputs, requires a second plan with no changes, and destroys
// (always, deferred).
func (w *Workspace) Apply(ctx context.Context, endpoint string) (applied *Applied, err error) {
	defer func() { err = errors.Join(err, w.Destroy()) }()
	return w.Up(ctx, endpoint)
}

// Up applies against endpoint (an emulator, through a provider override file beside the copy and
// AWS_ENDPOINT_URL; empty: real AWS with the environment's credentials, limited to the allowed account), reads
// the outputs and requires a second plan with no changes. The caller must Destroy, whatever Up returned.
func (w *Workspace) Up(ctx context.Context, endpoint string) (*Applied, error) {
	if endpoint != "" {
		if err := os.WriteFile(filepath.Join(w.dir, "harness_override.tf"), []byte(emulatorOverride(endpoint, w.region)), 0o644); err != nil {
			return nil, err
		}
		w.opts.EnvVars["AWS_ENDPOINT_URL"] = endpoint
		w.opts.EnvVars["AWS_ACCESS_KEY_ID"], w.opts.EnvVars["AWS_SECRET_ACCESS_KEY"] = "testing", "testing"
	} else if w.allowedAccount != "" {
		if err := os.WriteFile(filepath.Join(w.dir, "harness_override.tf"), []byte(accountGuard(w.allowedAccount)), 0o644); err != nil {
			return nil, err
		}
	}
	if _, err := terraform.ApplyE(w.t, w.opts); err != nil {
		return nil, fmt.Errorf("terraform apply: %w", err)
	}
	outs, err := terraform.OutputAllE(w.t, w.opts)
	if err != nil {
		return nil, fmt.Errorf("terraform output: %w", err)
	}
	code, err := terraform.PlanExitCodeE(w.t, w.opts)
	if err != nil {
		return nil, fmt.Errorf("second plan: %w", err)
	}
	if code != 0 {
		return nil, fmt.Errorf("second plan shows changes (exit code %d): the apply is not idempotent", code)
	}
	return &Applied{Outputs: outs}, nil
}

// Destroy destroys what Up created (Terratest retries known transient errors). On failure the copy and its
// state are kept (Close says where).
func (w *Workspace) Destroy() error {
	if _, err := terraform.DestroyE(w.t, w.opts); err != nil {
		w.destroyFailed = true
		return fmt.Errorf("terraform destroy (state kept in %s): %w", w.dir, err)
	}
	return nil
}

// providerUnavailable recognises init failures that mean the provider cannot be installed here, and returns
// the reason: the first paragraph after the error heading, unwrapped (Terraform and OpenTofu wrap at ~78
// columns), e.g. "Could not resolve provider hashicorp/aws: could not connect to registry.opentofu.org: ...".
func providerUnavailable(out string) (string, bool) {
	markers := []string{"Failed to query available provider packages", "Failed to resolve provider packages",
		"could not connect to registry", "Failed to install provider", "no available releases match",
		"registry.terraform.io", "registry.opentofu.org"}
	paras := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n\n")
	var reasons []string
	for i, p := range paras {
		flat := strings.Join(strings.Fields(p), " ")
		for _, m := range markers {
			if !strings.Contains(flat, m) {
				continue
			}
			reason := strings.TrimPrefix(flat, "Error: ")
			// A heading ("Error: Failed to ...") is followed by the paragraph that says why.
			if strings.HasPrefix(flat, "Error:") && i+1 < len(paras) {
				if next := strings.Join(strings.Fields(paras[i+1]), " "); next != "" {
					reason = next
				}
			}
			reasons = append(reasons, reason)
			break
		}
	}
	// Several providers fail alike; the one that matters is hashicorp/aws.
	for _, r := range reasons {
		if strings.Contains(r, "hashicorp/aws") {
			return r, true
		}
	}
	if len(reasons) > 0 {
		return reasons[0], true
	}
	return "", false
}

// runT adapts terratest's TestingT for use outside go test; the E functions report through errors.
type runT struct{}

func (*runT) Fail()                 {}
func (*runT) FailNow()              {}
func (*runT) Fatal(...any)          {}
func (*runT) Fatalf(string, ...any) {}
func (*runT) Error(...any)          {}
func (*runT) Errorf(string, ...any) {}
func (*runT) Name() string          { return "harness-apply" }
func (*runT) Helper()               {}
