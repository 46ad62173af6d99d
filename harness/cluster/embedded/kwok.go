package embedded

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	"sigs.k8s.io/kwok/kustomize/stage/node/heartbeat"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/client/clientset/versioned"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/controllers"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/client"
)

// Nodes carrying this annotation are simulated by kwok; nodes of other origins are left alone.
const (
	kwokAnnotation = "kwok.x-k8s.io/node"
	kwokSelector   = kwokAnnotation + "=fake"
)

// stages are kwok's own stage definitions, as its module exports them: nodes become Ready and heartbeat;
// pods bound to a node become Running, Job pods complete, deleted pods go away.
func stages() (map[internalversion.StageResourceRef][]*internalversion.Stage, error) {
	out := map[internalversion.StageResourceRef][]*internalversion.Stage{}
	for _, y := range []string{nodefast.DefaultNodeInit, heartbeat.DefaultNodeHeartbeat,
		podfast.DefaultPodReady, podfast.DefaultPodComplete, podfast.DefaultPodDelete} {
		s, err := config.UnmarshalWithType[*internalversion.Stage](y)
		if err != nil {
			return nil, fmt.Errorf("load kwok stage: %w", err)
		}
		out[s.Spec.ResourceRef] = append(out[s.Spec.ResourceRef], s)
	}
	return out, nil
}

// runKwok starts kwok's controller for the nodes annotated as fake, logging to logs.
func runKwok(ctx context.Context, kubeconfig string, logs io.Writer) error {
	ctx = kwoklog.NewContext(ctx, kwoklog.NewLogger(logs, slog.LevelWarn))
	st, err := stages()
	if err != nil {
		return err
	}
	cs, err := client.NewClientset("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kwok client: %w", err)
	}
	restConfig, err := cs.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("kwok rest config: %w", err)
	}
	dynamicClient, err := cs.ToDynamicClient()
	if err != nil {
		return fmt.Errorf("kwok dynamic client: %w", err)
	}
	restMapper, err := cs.ToRESTMapper()
	if err != nil {
		return fmt.Errorf("kwok rest mapper: %w", err)
	}
	restClient, err := rest.RESTClientFor(restConfig)
	if err != nil {
		return fmt.Errorf("kwok rest client: %w", err)
	}
	typed, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("kwok typed client: %w", err)
	}
	typedKwok, err := versioned.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("kwok typed kwok client: %w", err)
	}
	id, err := controllers.Identity()
	if err != nil {
		return fmt.Errorf("kwok identity: %w", err)
	}
	opts := config.GetKwokConfiguration(ctx).Options
	ctr, err := controllers.NewController(controllers.Config{
		Clock:                             clock.RealClock{},
		DynamicClient:                     dynamicClient,
		RESTClient:                        restClient,
		RESTMapper:                        restMapper,
		ImpersonatingDynamicClient:        cs.ToImpersonatingDynamicClient(),
		ImpersonatingTypedClient:          cs.ToImpersonatingTypedClient(),
		TypedClient:                       typed,
		TypedKwokClient:                   typedKwok,
		ManageNodesWithAnnotationSelector: kwokSelector,
		CIDR:                              "10.244.0.0/16",
		NodeIP:                            opts.NodeIP,
		PodPlayStageParallelism:           16,
		NodePlayStageParallelism:          16,
		LocalStages:                       st,
		NodeLeaseParallelism:              opts.NodeLeaseParallelism,
		NodeLeaseDurationSeconds:          opts.NodeLeaseDurationSeconds,
		ID:                                id,
		PodsOnNodeSyncParallelism:         opts.PodsOnNodeSyncParallelism,
	})
	if err != nil {
		return fmt.Errorf("kwok controller: %w", err)
	}
	if err := ctr.Start(ctx); err != nil {
		return fmt.Errorf("start kwok: %w", err)
	}
	return nil
}
