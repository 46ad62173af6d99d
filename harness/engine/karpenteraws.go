package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/moto"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud/publicdata"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/controllers/karpenteraws"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/deploy"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra/emulate"
)

var ec2NodeClassesGVR = schema.GroupVersionResource{Group: "karpenter.k8s.aws", Version: "v1", Resource: "ec2nodeclasses"}

// awsRun is what the AWS provider's start brought up beside the cluster, stopped in reverse order.
type awsRun struct {
	moto *moto.Moto
	pd   *publicdata.Server
	ctl  *karpenteraws.Controller
}

func (a *awsRun) stop() {
	if a == nil {
		return
	}
	if a.ctl != nil {
		a.ctl.Stop()
	}
	if a.pd != nil {
		_ = a.pd.Stop()
	}
	if a.moto != nil {
		_ = a.moto.Stop(context.Background())
	}
}

// NodeClassVerdict is an EC2NodeClass or a NodePool as Karpenter left it: Ready by its own conditions, or not,
// with every condition ("Type=Status (message)"); for an EC2NodeClass, the zones of the subnets it resolved.
type NodeClassVerdict struct {
	Kind, Name, Source string
	Ready              bool
	Conditions         []string
	Zones              []string
}

// startKarpenterAWS runs the real Karpenter AWS provider (kwok mode) against the cluster and moto: moto gets the
// AWS side Terraform declares for the environment (the nightly's emulated apply: VPC, subnets and security group
// with the discovery tags, node role and instance profile, the interruption queue), the Pricing API and the public
// EKS AMI parameters are answered beside it (publicdata), the platform's EC2NodeClasses and NodePools are the
// deployed ones (created from the model when the deploy did not), unchanged, and the provider's own conditions on
// each EC2NodeClass are waited for: they are the verdict (KarpenterStart.NodeClasses).
func (e *Env) startKarpenterAWS(ctx context.Context, cfg KarpenterConfig, set *deploy.CRDSet, t0 time.Time) (st KarpenterStart, err error) {
	pools := e.Platform.NodePools()
	st = KarpenterStart{Provider: ProviderAWS, Pools: len(pools)}
	ahead := e.awsAhead
	e.awsAhead = nil
	if ahead == nil {
		ahead = e.startAWSSide(ctx, cfg)
	}
	side := ahead.wait()
	run, dir := side.run, side.dir
	defer func() {
		if err != nil {
			run.stop()
			if dir != "" {
				os.RemoveAll(dir)
			}
		}
	}()
	if side.err != nil {
		return st, side.err
	}
	st.AWSCreated, st.AWSSide, st.AWSSideAhead = side.created, side.took, ahead.early
	if err := deploy.InstallCRDs(ctx, e.REST(), set, time.Minute); err != nil && !apierrors.IsAlreadyExists(err) {
		return st, fmt.Errorf("install Karpenter's CRDs: %w", err)
	}
	m, pd := run.moto, run.pd

	dyn, err := dynamic.NewForConfig(e.REST())
	if err != nil {
		return st, err
	}
	// The deployed objects are the ones judged; the model's are created only where the deploy did not create them
	// (a chart not deployed here), never over them.
	classes := e.Platform.NodeClasses()
	for _, o := range classes {
		if err := ensure(ctx, dyn, ec2NodeClassesGVR, o.Unstructured); err != nil {
			return st, fmt.Errorf("EC2NodeClass %s (%s): %w", o.GetName(), o.Source, err)
		}
	}
	for _, np := range pools {
		if err := ensure(ctx, dyn, nodePoolsGVR, np.Object.Unstructured); err != nil {
			return st, fmt.Errorf("NodePool %s (%s): %w", np.Name, np.Object.Source, err)
		}
		st.Changes = append(st.Changes, fmt.Sprintf("NodePool %s (%s): unchanged", np.Name, np.Object.Source))
	}
	// The chart's settings.interruptionQueue, as the bridge publishes it: the provider polls the queue on moto.
	queue := e.Platform.Bridge.Leaves["karpenter.interruptionQueue"]
	ctl, err := karpenteraws.Start(ctx, karpenteraws.Config{Binary: cfg.AWSBinary, Kubeconfig: e.Cluster.Kubeconfig(), APIServer: e.REST().Host,
		ClusterName: side.clusterName, Region: side.region, Emulator: m.Endpoint(), PublicData: pd.URL(), InterruptionQueue: queue, Dir: dir})
	if err != nil {
		return st, fmt.Errorf("start the Karpenter AWS provider: %w", err)
	}
	run.ctl = ctl
	e.karpenter = &karpenterRun{dir: dir, pools: pools, aws: run}
	var judged []judgedObject
	for _, o := range classes {
		judged = append(judged, judgedObject{gvr: ec2NodeClassesGVR, kind: "EC2NodeClass", name: o.GetName(), source: o.Source})
	}
	for _, np := range pools {
		judged = append(judged, judgedObject{gvr: nodePoolsGVR, kind: "NodePool", name: np.Name, source: np.Object.Source})
	}
	st.NodeClasses, err = waitJudged(ctx, dyn, judged, 3*time.Minute)
	st.Took = time.Since(t0)
	if err != nil {
		e.StopKarpenter()
		return st, err
	}
	return st, nil
}

// awsSide is what the AWS provider runs against: moto holding the emulated apply of terraform/ (the nightly's:
// VPC, subnets and security group with the discovery tags, node role and instance profile, the interruption queue),
// with the Pricing API and the public EKS AMI parameters answered beside it (publicdata).
type awsSide struct {
	run                 *awsRun // moto and publicdata (no controller yet)
	dir                 string  // the provider's run directory: moto's and the apply's logs
	created             int     // resource instances the emulated apply created
	clusterName, region string
	took                time.Duration
	err                 error
}

// awsAhead is an AWS side being brought up in the background.
type awsAhead struct {
	done  chan struct{}
	side  awsSide
	early bool // started ahead of the karpenter step (PrepareKarpenterAWS)
}

func (a *awsAhead) wait() awsSide {
	<-a.done
	return a.side
}

// PrepareKarpenterAWS brings up, in the background, the AWS side the Karpenter AWS provider will run against (moto,
// the emulated apply, publicdata: seconds of Python and API calls that need no cluster), so that StartKarpenter
// finds it ready: the run calls it when its deploy starts. Nothing happens unless StartKarpenter(cfg) would run
// the AWS provider. What StartKarpenter does not take, StopKarpenter stops. The verdict is the same either way:
// the provider starts, against the same AWS side, only when StartKarpenter runs.
func (e *Env) PrepareKarpenterAWS(ctx context.Context, cfg KarpenterConfig) {
	if e.awsAhead != nil || e.karpenter != nil || !e.KarpenterAWSRuns(cfg) {
		return
	}
	e.awsAhead = e.startAWSSide(ctx, cfg)
	e.awsAhead.early = true
}

// startAWSSide starts bringing up the AWS side; its wait returns it (or why it could not be had, with what was
// started, for the caller to stop).
func (e *Env) startAWSSide(ctx context.Context, cfg KarpenterConfig) *awsAhead {
	a := &awsAhead{done: make(chan struct{})}
	go func() {
		defer close(a.done)
		t0 := time.Now()
		a.side = e.bringUpAWSSide(ctx, cfg)
		a.side.took = time.Since(t0)
	}()
	return a
}

func (e *Env) bringUpAWSSide(ctx context.Context, cfg KarpenterConfig) (side awsSide) {
	side.run = &awsRun{}
	if side.dir, side.err = os.MkdirTemp("", "harness-karpenter-aws-"); side.err != nil {
		return side
	}
	fail := func(err error) awsSide {
		side.err = err
		return side
	}
	m, err := moto.New(moto.Config{Venv: cfg.MotoVenv, LogFile: filepath.Join(side.dir, "moto.log"), Region: e.Platform.Shape.Region})
	if err != nil {
		return fail(err)
	}
	if err := m.Start(ctx); err != nil {
		return fail(fmt.Errorf("start moto for the AWS side: %w", err))
	}
	side.run.moto = m
	progress, err := os.Create(filepath.Join(side.dir, "apply.log"))
	if err != nil {
		return fail(err)
	}
	runID := fmt.Sprintf("harness-check-%d", time.Now().UnixNano())
	// moto and everything on it go when the run ends: nothing to destroy one by one.
	up, err := emulate.Create(ctx, e.Platform, m, runID, time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339), progress)
	progress.Close()
	if err != nil {
		return fail(fmt.Errorf("emulated apply of terraform/ on moto: %w", err))
	}
	side.created, side.clusterName = len(up.Created), up.Shape.ClusterName
	awsCfg, err := m.Config(ctx)
	if err != nil {
		return fail(err)
	}
	side.region = awsCfg.Region
	pd, err := publicdata.Start(publicdata.Config{Emulator: m.Endpoint(), EC2: ec2.NewFromConfig(awsCfg), IAM: iam.NewFromConfig(awsCfg),
		Catalog: m.Installation()})
	if err != nil {
		return fail(err)
	}
	side.run.pd = pd
	return side
}

// stopAWSAhead stops an AWS side started ahead that StartKarpenter did not take.
func (e *Env) stopAWSAhead() {
	a := e.awsAhead
	if a == nil {
		return
	}
	e.awsAhead = nil
	side := a.wait()
	side.run.stop()
	if side.dir != "" {
		os.RemoveAll(side.dir)
	}
}

// ensure creates obj unless an object of its name exists.
func ensure(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	c := dyn.Resource(gvr).Namespace(obj.GetNamespace())
	if _, err := c.Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	obj = obj.DeepCopy()
	obj.SetResourceVersion("")
	_, err := c.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return err
}

// judgedObject is an object whose conditions Karpenter sets.
type judgedObject struct {
	gvr                schema.GroupVersionResource
	kind, name, source string
}

// judgedSettle is how long an unchanged Ready=False stands before it is Karpenter's answer.
var judgedSettle = 15 * time.Second

// waitJudged waits until Karpenter has judged every object: Ready=True, or Ready=False unchanged for 15 s. An object still undecided at the timeout is an error
// naming its conditions.
func waitJudged(ctx context.Context, dyn dynamic.Interface, objs []judgedObject, timeout time.Duration) ([]NodeClassVerdict, error) {
	var out []NodeClassVerdict
	last := map[string]string{}
	since := map[string]time.Time{}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		out = out[:0]
		done := true
		// The node classes' Ready as read in this poll (objs lists them before the NodePools).
		classReady := map[string]string{}
		for _, o := range objs {
			v := NodeClassVerdict{Kind: o.kind, Name: o.name, Source: o.source}
			u, err := dyn.Resource(o.gvr).Get(ctx, o.name, metav1.GetOptions{})
			if err != nil {
				v.Conditions = []string{"not readable: " + err.Error()}
				out, done = append(out, v), false
				continue
			}
			ready, nodeClassReady := "", ""
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				typ, status, msg := fmt.Sprint(m["type"]), fmt.Sprint(m["status"]), fmt.Sprint(m["message"])
				switch typ {
				case "Ready":
					ready = status
				case "NodeClassReady":
					nodeClassReady = status
				}
				s := typ + "=" + status
				if msg != "" && msg != "<nil>" {
					s += " (" + msg + ")"
				}
				v.Conditions = append(v.Conditions, s)
			}
			sort.Strings(v.Conditions)
			subnets, _, _ := unstructured.NestedSlice(u.Object, "status", "subnets")
			for _, sn := range subnets {
				if m, ok := sn.(map[string]any); ok {
					if z := fmt.Sprint(m["zone"]); !slices.Contains(v.Zones, z) {
						v.Zones = append(v.Zones, z)
					}
				}
			}
			sort.Strings(v.Zones)
			v.Ready = ready == "True"
			key := o.kind + "/" + o.name
			sig := strings.Join(v.Conditions, ";")
			if sig != last[key] {
				last[key], since[key] = sig, time.Now()
			}
			if o.kind == "EC2NodeClass" {
				classReady[o.name] = ready
			}
			// A NodePool's NodeClassReady is Karpenter's copy of its node class's Ready (the nodepool.readiness
			// controller: True exactly when the class is Ready). While the copy disagrees with the class as read now,
			// Karpenter has not caught up with the class's last change (a busy machine lags behind by more than
			// 15 s): not its answer yet, however long it has stood.
			lagging := false
			if o.kind == "NodePool" {
				ref, _, _ := unstructured.NestedString(u.Object, "spec", "template", "spec", "nodeClassRef", "name")
				if cr, ok := classReady[ref]; ok && cr != "" && (cr == "True") != (nodeClassReady == "True") {
					lagging = true
				}
			}
			// Ready is Karpenter's root condition: False only when a condition it depends on is False. Unchanged for
			// 15 s, that is its answer (a condition it does not depend on may stay Unknown: NodeRegistrationHealthy).
			if !v.Ready && (lagging || !(ready == "False" && time.Since(since[key]) > judgedSettle)) {
				done = false
			}
			out = append(out, v)
		}
		return done, nil
	})
	if err != nil {
		var parts []string
		for _, v := range out {
			parts = append(parts, fmt.Sprintf("%s %s: %s", v.Kind, v.Name, strings.Join(v.Conditions, ", ")))
		}
		return out, fmt.Errorf("Karpenter had not judged every EC2NodeClass and NodePool after %s: %v (%s)", timeout, err, strings.Join(parts, "; "))
	}
	return out, nil
}
