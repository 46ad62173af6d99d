// Package workload is the workload tier: it runs the project's own workflow code (workflows/) with the real
// runtimes — flytekit, KServe's Python model server, Ray and the real KubeRay operator, kfp — on loopback, with the
// artifacts bucket Terraform declares in the S3 emulator, and judges the outcome with the same Go smoke clients the
// nightly uses (harness/smoke). Each runtime is installed from its hashed lock (workflows/requirements/*.txt) into
// its own virtualenv on first use (harness/pyenv); a runtime that cannot be installed or started is `skipped:` with
// the reason, never passed.
//
// Every process binds 127.0.0.1 on a free port (Ray's in its single-machine mode; KServe's REST server, which
// hard-codes 0.0.0.0, is given loopback by the stand-in script), is started and supervised by internal/proc (its
// own process group, a parent-death signal, a readiness check; one that dies during the run ends it, named),
// carries the tier's marker (a reaper kills every marked process if the harness dies), and is stopped on
// every exit path; temporary files live under the run's directory.
package workload

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"k8s.io/client-go/rest"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/platform"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/pyenv"
)

// Names of the tier's results.
const (
	NameFlyte     = "workload/flyte"
	NameKServe    = "workload/kserve"
	NameRayTrain  = "workload/ray-train"
	NameRayServe  = "workload/ray-serve"
	NameKFP       = "workload/kfp"
	awsTestingKey = "testing"
)

// Names lists the tier's results in order.
var Names = []string{NameFlyte, NameKServe, NameRayTrain, NameRayServe, NameKFP}

// Config configures the tier.
type Config struct {
	// Platform is the run's model: workflows, the GitOps Bridge (the artifacts bucket), the GPU contract.
	Platform *platform.Platform
	// Dir is the run's scratch directory (logs, TMPDIR and HOME of the Python processes); the caller removes it.
	Dir string
	// VenvDir holds the runtimes' virtualenvs (<VenvDir>/<runtime>); default <repo>/.venv-workloads.
	VenvDir string
	// MotoVenv is moto's virtualenv; default <repo>/.venv.
	MotoVenv string
	// Moto, when set, is a started moto holding the artifacts bucket (the nightly's emulated AWS side, in make
	// test): the tier uses it and leaves it running; otherwise the tier starts its own and creates the bucket.
	Moto *moto.Moto
	// Rest and Kubeconfig are the cluster the Ray workloads' custom resources go to (KubeRay reconciles them
	// there); nil skips the Ray steps.
	Rest       *rest.Config
	Kubeconfig string
	// KubeRay is the operator binary (make kuberay: bin/kuberay); missing skips the Ray steps.
	KubeRay string
	// Progress receives progress lines; may be nil.
	Progress func(string)
}

// Tier is one run of the workload tier. Steps run in order (Flyte publishes the model KServe serves; Ray training
// writes the checkpoint Ray Serve loads).
type Tier struct {
	cfg    Config
	root   string // the repository, absolute
	bucket string

	motoOnce sync.Once
	moto     *moto.Moto // the tier's own moto (stopped by Stop), nil when Config.Moto is used
	motoErr  error
	// motoEndpoint is where S3 answers (the tier's moto or Config.Moto).
	motoEndpoint string
	s3           *s3.Client

	// marker (KEY=VALUE) is in the environment of every process the tier starts; the reaper kills them all and
	// removes rayTmp (when the tier created it) if the harness dies without Stop.
	marker string
	reaper *reaper
	rayTmp string

	mu    sync.Mutex
	procs []*proc.Process

	headOnce sync.Once // the Ray head (headReady)
	ray      *rayHead
	headErr  error
	rayOnce  sync.Once // the KubeRay operator (rayReady)
	rayErr   error
	kuberay  *proc.Process

	// published is set when Flyte published the model (KServe serves it).
	published bool
	// trained is set when the Ray job wrote its model (Ray Serve loads it).
	trained bool
}

// New validates cfg.
func New(cfg Config) (*Tier, error) {
	if cfg.Platform == nil || cfg.Dir == "" {
		return nil, errors.New("workload: Platform and Dir are required")
	}
	root, err := filepath.Abs(cfg.Platform.Root)
	if err != nil {
		return nil, err
	}
	if cfg.VenvDir == "" {
		cfg.VenvDir = filepath.Join(root, ".venv-workloads")
	}
	if cfg.MotoVenv == "" {
		cfg.MotoVenv = filepath.Join(root, ".venv")
	}
	// Children run in their own directories: every path they are given is absolute.
	for _, p := range []*string{&cfg.VenvDir, &cfg.MotoVenv, &cfg.Dir, &cfg.KubeRay} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, err
			}
		}
	}
	t := &Tier{cfg: cfg, root: root, marker: newMarker()}
	if cfg.Platform.Bridge != nil {
		t.bucket = cfg.Platform.Bridge.Vars()[platform.EnvName("artifactsBucket")]
	}
	// Ray's session directory holds Unix sockets: it needs a short path (sun_path is 108 bytes, and Ray adds ~65).
	var owned []string
	t.rayTmp = filepath.Join(cfg.Dir, "r")
	if len(t.rayTmp) > 40 {
		if t.rayTmp, err = os.MkdirTemp("", "ray-"); err != nil {
			return nil, err
		}
		owned = append(owned, t.rayTmp)
	}
	if t.reaper, err = startReaper(t.marker, owned...); err != nil {
		for _, d := range owned {
			_ = os.RemoveAll(d)
		}
		return nil, err
	}
	return t, nil
}

// Stop stops every process the tier started (Ray head, model servers, the operator, moto). Safe to call twice.
func (t *Tier) Stop() {
	t.mu.Lock()
	procs := t.procs
	t.procs = nil
	t.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		_ = procs[i].Stop()
	}
	if t.moto != nil {
		_ = t.moto.Stop(context.Background())
	}
	// Whatever the processes started and left (Ray's agents, a job driver in its own session).
	killMarked(t.marker)
	if t.reaper != nil {
		t.reaper.finish()
		t.reaper = nil
	}
}

func (t *Tier) progress(format string, args ...any) {
	if t.cfg.Progress != nil {
		t.cfg.Progress(fmt.Sprintf(format, args...))
	}
}

// runtime installs (first use) and returns the runtime's virtualenv. An error that means the runtime cannot be
// had on this machine (no python3, no route to the package index) is a skipError; a broken lock (missing, a hash
// that does not match) or a cancelled run is not.
func (t *Tier) runtime(ctx context.Context, name string) (pyenv.Env, error) {
	lock := filepath.Join(t.root, "workflows", "requirements", name+".txt")
	env, err := pyenv.Ensure(ctx, filepath.Join(t.cfg.VenvDir, name), lock, func(s string) { t.progress("%s", s) })
	switch {
	case err == nil:
		if env.Installed > 0 {
			t.progress("%s runtime installed in %s", name, env.Installed.Round(time.Second))
		}
		return env, nil
	case ctx.Err() != nil:
		return env, context.Cause(ctx)
	case errors.Is(err, pyenv.ErrNoPython), errors.Is(err, pyenv.ErrWrongPython), pyenv.Unreachable(err):
		return env, skip("%s runtime could not be installed: %v", name, err)
	}
	return env, fmt.Errorf("%s runtime: %w", name, err)
}

// s3Emulator starts moto (once) with the artifacts bucket Terraform declares.
func (t *Tier) s3Emulator(ctx context.Context) error {
	t.motoOnce.Do(func() {
		if t.bucket == "" || strings.Contains(t.bucket, "known-after-apply") {
			t.motoErr = fmt.Errorf("the GitOps Bridge has no artifacts bucket name (%q)", t.bucket)
			return
		}
		m := t.cfg.Moto
		if m == nil {
			own, err := moto.New(moto.Config{Venv: t.cfg.MotoVenv, LogFile: filepath.Join(t.cfg.Dir, "moto.log")})
			if err != nil {
				t.motoErr = err
				return
			}
			if err := own.Start(ctx); err != nil {
				t.motoErr = err
				return
			}
			t.moto, m = own, own
		}
		t.motoEndpoint = m.Endpoint()
		cfg, err := m.Config(ctx)
		if err != nil {
			t.motoErr = err
			return
		}
		t.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		if t.moto == nil { // the caller's moto: the bucket is the one its AWS side created
			_, t.motoErr = t.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(t.bucket)})
			if t.motoErr != nil {
				t.motoErr = fmt.Errorf("the artifacts bucket %s on %s: %w", t.bucket, t.motoEndpoint, t.motoErr)
			}
			return
		}
		_, t.motoErr = t.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(t.bucket)})
	})
	return t.motoErr
}

// awsEnv is what the Python processes need to reach the emulated S3 with moto's test credentials (boto3, s3fs,
// pyarrow and KServe's storage honour AWS_ENDPOINT_URL; flytekit reads its own FLYTE_AWS_* settings).
func (t *Tier) awsEnv() []string {
	ep := t.motoEndpoint
	return []string{
		"AWS_ENDPOINT_URL=" + ep, "AWS_ACCESS_KEY_ID=" + awsTestingKey, "AWS_SECRET_ACCESS_KEY=" + awsTestingKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"FLYTE_AWS_ENDPOINT=" + ep, "FLYTE_AWS_ACCESS_KEY_ID=" + awsTestingKey, "FLYTE_AWS_SECRET_ACCESS_KEY=" + awsTestingKey,
	}
}

// scratch is a fresh directory under the run's directory, for a process's HOME and TMPDIR.
func (t *Tier) scratch(name string) (string, error) {
	dir := filepath.Join(t.cfg.Dir, name)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// start starts a long-running process whose output goes to log, supervised (internal/proc), and waits until
// ready answers true (timeout; a process that exits first fails the start, with its log's last lines); it is
// stopped by Tier.Stop. A nil ready: started is ready.
func (t *Tier) start(ctx context.Context, name, dir, log string, env []string, ready func(context.Context) bool, timeout time.Duration,
	bin string, args ...string) (*proc.Process, error) {
	spec := proc.Spec{Name: name, Path: bin, Args: args, Dir: dir, Env: append(env, t.marker), Log: log,
		StartTimeout: timeout, PollInterval: 200 * time.Millisecond}
	if ready != nil {
		spec.Ready = func(ctx context.Context) error {
			if !ready(ctx) {
				return proc.ErrNotYet
			}
			return nil
		}
	}
	p, err := proc.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.procs = append(t.procs, p)
	t.mu.Unlock()
	return p, nil
}

// run runs a command to completion in its own process group (killed with the context), output to log.
func (t *Tier) run(ctx context.Context, dir, log string, env []string, bin string, args ...string) error {
	return run(ctx, dir, log, append(env, t.marker), bin, args...)
}

func run(ctx context.Context, dir, log string, env []string, bin string, args ...string) error {
	f, err := os.Create(log)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := proc.Command(ctx, bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, f, f
	return cmd.Run()
}

func tailFile(path string, n int) []string { return proc.TailFile(path, n) }

// skipError is a reason a step cannot run here (a runtime that cannot be installed, no cluster): the step is
// skipped with it, never passed. Any other error fails the step.
type skipError struct{ error }

func skip(format string, args ...any) error { return skipError{fmt.Errorf(format, args...)} }

// firstLine is an error's first line (a failed start's error carries the log's last lines after it).
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
