package smoke

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// PortForward forwards a free loopback port to the service's port (resolved to the target port of a running
// pod behind it, as `kubectl port-forward svc/...` does) until ctx ends, and returns the local port. For gRPC
// endpoints the API server's HTTP service proxy cannot carry (Flyte admin).
func PortForward(ctx context.Context, rc *rest.Config, ns, service string, port int) (int, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return 0, err
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if len(svc.Spec.Selector) == 0 {
		return 0, fmt.Errorf("service %s/%s has no selector: no pods to forward to", ns, service)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return 0, err
	}
	var pod *corev1.Pod
	for i, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			pod = &pods.Items[i]
			break
		}
	}
	if pod == nil {
		return 0, fmt.Errorf("service %s/%s: no running pod to forward to", ns, service)
	}
	target, err := TargetPort(svc, pod, port)
	if err != nil {
		return 0, err
	}
	tr, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return 0, err
	}
	u, err := url.Parse(rc.Host)
	if err != nil {
		return 0, err
	}
	u.Path = fmt.Sprintf("%s/api/v1/namespaces/%s/pods/%s/portforward", u.Path, ns, pod.Name)
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: tr}, http.MethodPost, u)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", target)}, ctx.Done(), ready, io.Discard, io.Discard)
	if err != nil {
		return 0, err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return 0, fmt.Errorf("port-forward to %s/%s: %w", ns, pod.Name, err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return 0, fmt.Errorf("port-forward to %s/%s: no local port: %v", ns, pod.Name, err)
	}
	return int(ports[0].Local), nil
}

// TargetPort resolves the service port to the pod's port: a number, or a named container port.
func TargetPort(svc *corev1.Service, pod *corev1.Pod, port int) (int, error) {
	for _, sp := range svc.Spec.Ports {
		if int(sp.Port) != port {
			continue
		}
		switch {
		case sp.TargetPort.Type == intstr.String:
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						return int(cp.ContainerPort), nil
					}
				}
			}
			return 0, fmt.Errorf("service %s/%s port %d: pod %s has no container port named %q", svc.Namespace, svc.Name, port, pod.Name, sp.TargetPort.StrVal)
		case sp.TargetPort.IntVal != 0:
			return int(sp.TargetPort.IntVal), nil
		default:
			return port, nil
		}
	}
	return 0, fmt.Errorf("service %s/%s has no port %d", svc.Namespace, svc.Name, port)
}
