package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/engine"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/infra"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/result"
)

// Deploy judges the platform's deploy (engine.Deploy: Helm or Argo CD), one result per Application, named
// deploy/<app>, in the order the engine reports them. Argo CD that could not run (or a bootstrap it could not be
// given) is one failed deploy/argocd, blaming no Application. A chart this machine does not have is a skip
// naming it — never a pass; a chart that is not the one pinned, an install or sync that failed, fail.
func Deploy(d engine.Deployment) []result.Result {
	if d.ArgoErr != nil {
		return []result.Result{result.Fail(NameArgoCD, nil, "%v", d.ArgoErr)}
	}
	out := make([]result.Result, 0, len(d.Apps))
	for _, a := range d.Apps {
		r := deployed(a)
		r.Duration = a.Duration
		out = append(out, r)
	}
	return out
}

func deployed(a engine.AppDeploy) result.Result {
	switch {
	case a.Refused != "":
		return result.Fail(a.Name, nil, "%s", a.Refused)
	case a.Unavailable != "":
		return result.Skip(a.Name, "%s", a.Unavailable)
	case a.Err != nil:
		return result.Fail(a.Name, nil, "%v", a.Err)
	case len(a.Unserved) > 0:
		return result.Skip(a.Name, "the cluster serves no %s (their CRDs are not installed: make crds, or the chart that ships them was skipped)", strings.Join(a.Unserved, ", "))
	case len(a.WrongVersions) > 0:
		return result.Fail(a.Name, a.WrongVersions, "%d object(s) of %s use an API version the cluster does not serve for their group: %s", len(a.WrongVersions), a.Path, a.WrongVersions[0])
	case a.Helm != nil:
		return helmInstalled(a.Name, *a.Helm)
	case a.Argo != nil:
		return argoSynced(a.Name, *a.Argo)
	}
	return result.Fail(a.Name, nil, "the deploy reported nothing about this Application")
}

func helmInstalled(name string, h engine.HelmInstall) result.Result {
	note := ""
	if len(h.Dropped) > 0 {
		note = fmt.Sprintf(" (%d admission webhook/APIService object(s) left out: their servers are the chart's own pods, which nothing runs on an emulated cluster)", len(h.Dropped))
	}
	if h.Upstream {
		note += fmt.Sprintf("; %d workload(s) whose real pods are judged", h.Workloads)
	}
	r := result.Pass(name, "helm install %s: %d objects%s", h.Release, h.Objects, note)
	for _, d := range h.Dropped {
		r.Details = append(r.Details, "left out: "+d)
	}
	return r
}

// argoSynced judges what Argo CD reported about one Application: Synced and Healthy passes (resources whose
// health Argo CD cannot judge here are listed, with why); anything else fails in Argo CD's words. An Application
// never created behind an earlier wave that is not Healthy names that wave's Applications, not itself. The root
// Application carries the sync as a whole: a wait that ended early fails it with the controller's last lines.
func argoSynced(name string, s engine.ArgoSync) result.Result {
	r := result.Pass(name, "synced by Argo CD %s (wave %d): Synced, Healthy", s.Version, s.Wave)
	if s.Done && len(s.Unjudged) > 0 {
		r = result.Pass(name, "synced by Argo CD %s (wave %d): Synced; Healthy but for %d resource(s) whose health Argo CD does not judge here: %s",
			s.Version, s.Wave, len(s.Unjudged), strings.Join(s.Unjudged, "; "))
	}
	if !s.Done {
		msg := s.Summary
		if !s.Found && len(s.HeldBy) > 0 {
			msg = "the Application was never created: the app-of-apps' sync waits for an earlier wave that is not Healthy: " + strings.Join(s.HeldBy, ", ")
		}
		r = result.Fail(name, s.Details, "Argo CD %s (wave %d): %s", s.Version, s.Wave, msg)
	}
	if root := s.Root; root != nil {
		r.Message += fmt.Sprintf("; all Applications Synced and Healthy %s after kubectl apply -f %s (Argo CD start %s); source rewrite: %s",
			root.Took.Round(100*time.Millisecond), root.BootstrapFile, root.Started.Round(100*time.Millisecond), root.Rewrite)
		if root.WaitErr != nil {
			details := append(append(append([]string(nil), s.Details...), root.WaitErr.Error()), root.LogTail...)
			r = result.Fail(name, details, "Argo CD %s: %v; source rewrite: %s", s.Version, root.WaitErr, root.Rewrite)
		}
	}
	return r
}

// ApplyTier judges the apply tier's outcome (infra.ApplyTier, infra.Bring): where Terraform's AWS provider or
// binary cannot be installed it is a skip with the reason, never a pass; it passes only when it applied, the
// second plan was empty and (for ApplyTier) it destroyed. A failed apply, plan or destroy is the tier's error,
// not a result.
func ApplyTier(o infra.Outcome) result.Result {
	if o.Skipped != "" {
		return result.Skip(infra.TierName, "%s", o.Skipped)
	}
	r := result.Pass(infra.TierName, "applied against %s, second plan empty, destroyed; outputs %v", o.Target, o.Outputs)
	r.Duration = o.Duration
	return r
}
