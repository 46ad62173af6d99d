// Package embedded runs a real Kubernetes control plane from Go libraries: etcd (go.etcd.io/etcd embed),
// kube-apiserver, kube-scheduler and kube-controller-manager from k8s.io/kubernetes, and kwok (sigs.k8s.io/kwok)
// simulating the kubelets of nodes shaped like the Terraform node groups.
//
// The control plane of each cluster runs in one child process of the current program (which must call
// RunIfControlPlane first thing), because the Kubernetes components keep process-wide registrations they
// never release. Everything listens on 127.0.0.1 on free ports; certificates are generated in-process; all
// state and the components' logs live in one run directory that Stop removes.
package embedded
