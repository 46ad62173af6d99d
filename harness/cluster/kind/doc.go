// Package kind runs the cluster on kind (Kubernetes in Docker): one control-plane node and one worker per
// emulated node, carrying the node group's labels; taints come through a kubeadm JoinConfiguration patch and GPU
// capacity is advertised by patching node status after the cluster is up. It needs a Docker engine.
package kind
