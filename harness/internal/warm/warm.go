package warm

import (
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "sigs.k8s.io/kwok/pkg/kwok/cmd"
	_ "sigs.k8s.io/kind/pkg/cluster"
	_ "helm.sh/helm/v3/pkg/action"
	_ "github.com/hashicorp/hcl/v2/hclparse"
	_ "github.com/stretchr/testify/require"
)
