package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

// BudgetSeen is what happened to one PodDisruptionBudget's pods while a change synced: the fewest healthy pods
// it selected at any moment, against the healthy pods it asks for. Rollouts (a Deployment's Recreate strategy, a
// StatefulSet's one-by-one restarts, pruning) do not go through evictions, so the budget does not stop them; this
// is what they did to it.
type BudgetSeen struct {
	Namespace, Name string
	// Rule is the budget as written ("minAvailable 1", "maxUnavailable 25%").
	Rule string
	// Desired is the healthy pods the budget asks for (status.desiredHealthy when the watch started).
	Desired int
	// Start is the healthy pods when the watch started; Lowest the fewest since.
	Start, Lowest int
	// Workloads are the controllers of the pods the budget selected, "Kind namespace/name".
	Workloads []string
}

// Key names the budget.
func (b BudgetSeen) Key() string { return "PodDisruptionBudget " + b.Namespace + "/" + b.Name }

// BudgetWatch follows every pod while a change syncs (WatchBudgets), counting each budget's healthy pods on every
// pod event: Ready and not being deleted, as the disruption controller counts them.
type BudgetWatch struct {
	mu      sync.Mutex
	budgets []*watched
	pods    map[string]*corev1.Pod
	err     error
	stop    context.CancelFunc
	done    chan struct{}
}

type watched struct {
	seen     BudgetSeen
	selector labels.Selector
	owners   map[string]bool
}

// WatchBudgets starts following the cluster's PodDisruptionBudgets (the ones that exist now) and pods; Stop ends
// it and says what each budget saw.
func (e *Env) WatchBudgets(ctx context.Context) (*BudgetWatch, error) {
	cs := e.clientset
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	w := &BudgetWatch{pods: map[string]*corev1.Pod{}, done: make(chan struct{})}
	for i := range pods.Items {
		p := &pods.Items[i]
		w.pods[p.Namespace+"/"+p.Name] = p
	}
	for _, b := range pdbs.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || b.Spec.Selector == nil {
			continue // a budget selecting nothing (or everything, in policy/v1 terms, only when empty) guards nothing here
		}
		bw := &watched{seen: BudgetSeen{Namespace: b.Namespace, Name: b.Name, Rule: rule(b), Desired: int(b.Status.DesiredHealthy), Lowest: -1}, selector: sel, owners: map[string]bool{}}
		w.budgets = append(w.budgets, bw)
	}
	w.count()
	for _, b := range w.budgets {
		b.seen.Start = b.seen.Lowest
	}
	wctx, cancel := context.WithCancel(ctx)
	w.stop = cancel
	go w.follow(wctx, e, pods.ResourceVersion)
	return w, nil
}

func rule(b policyv1.PodDisruptionBudget) string {
	switch {
	case b.Spec.MinAvailable != nil:
		return "minAvailable " + b.Spec.MinAvailable.String()
	case b.Spec.MaxUnavailable != nil:
		return "maxUnavailable " + b.Spec.MaxUnavailable.String()
	}
	return "no rule"
}

// follow applies pod events until ctx ends, watching again from the last version seen when a watch closes and
// listing again when that version is gone.
func (w *BudgetWatch) follow(ctx context.Context, e *Env, rv string) {
	defer close(w.done)
	cs := e.clientset
	for ctx.Err() == nil {
		wi, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				w.fail(err)
			}
			return
		}
		for ev := range wi.ResultChan() {
			switch ev.Type {
			case watch.Error:
				// The version is too old (compacted): list again; what happened in between is not seen.
				wi.Stop()
				l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
				if err != nil {
					if ctx.Err() == nil {
						w.fail(err)
					}
					return
				}
				w.mu.Lock()
				w.pods = map[string]*corev1.Pod{}
				for i := range l.Items {
					p := &l.Items[i]
					w.pods[p.Namespace+"/"+p.Name] = p
				}
				w.mu.Unlock()
				w.count()
				rv = l.ResourceVersion
			case watch.Bookmark:
				if p, ok := ev.Object.(*corev1.Pod); ok {
					rv = p.ResourceVersion
				}
			case watch.Added, watch.Modified, watch.Deleted:
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				w.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(w.pods, p.Namespace+"/"+p.Name)
				} else {
					w.pods[p.Namespace+"/"+p.Name] = p
				}
				w.mu.Unlock()
				w.count()
			}
		}
		wi.Stop()
	}
}

func (w *BudgetWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = fmt.Errorf("watching pods for the PodDisruptionBudgets: %w", err)
	}
}

// count recounts every budget's healthy pods and keeps the lowest.
func (w *BudgetWatch) count() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.budgets {
		n := 0
		for _, p := range w.pods {
			if p.Namespace != b.seen.Namespace || !b.selector.Matches(labels.Set(p.Labels)) {
				continue
			}
			b.owners[workloadOf(p)] = true
			if p.DeletionTimestamp == nil && podutil.IsPodReady(p) {
				n++
			}
		}
		if b.seen.Lowest < 0 || n < b.seen.Lowest {
			b.seen.Lowest = n
		}
	}
}

// Stop ends the watch and returns what each budget saw, or the error that ended the watch early (its counts
// would be incomplete).
func (w *BudgetWatch) Stop() ([]BudgetSeen, error) {
	w.stop()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []BudgetSeen
	for _, b := range w.budgets {
		s := b.seen
		for o := range b.owners {
			s.Workloads = append(s.Workloads, o)
		}
		slices.Sort(s.Workloads)
		out = append(out, s)
	}
	return out, w.err
}

// workloadOf names a pod's controller, "Kind namespace/name" (the pod itself when it has none): a ReplicaSet's
// Deployment by the pod-template-hash suffix the Deployment controller gives its ReplicaSets.
func workloadOf(p *corev1.Pod) string {
	c := metav1.GetControllerOf(p)
	if c == nil {
		return "Pod " + p.Namespace + "/" + p.Name
	}
	if h := p.Labels["pod-template-hash"]; c.Kind == "ReplicaSet" && h != "" && strings.HasSuffix(c.Name, "-"+h) {
		return "Deployment " + p.Namespace + "/" + strings.TrimSuffix(c.Name, "-"+h)
	}
	return c.Kind + " " + p.Namespace + "/" + c.Name
}
