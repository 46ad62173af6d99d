// Package embedded runs a real Kubernetes control plane inside the current process: etcd (go.etcd.io/etcd embed),
// kube-apiserver, kube-scheduler and kube-controller-manager from k8s.io/kubernetes used as libraries, and kwok
// (sigs.k8s.io/kwok) simulating the kubelets of nodes shaped like the Terraform node groups.
//
// Everything listens on 127.0.0.1 on free ports; certificates are generated in-process; all state and the
// components' logs live in one run directory that Stop removes.
package embedded
