// Command kube-apiserver is the upstream kube-apiserver of one Kubernetes minor, chosen at build time by the
// go.mod beside this file: go.1.NN.mod pins k8s.io/kubernetes v1.NN.x (and its staging modules at v0.NN.x).
// `harness rehearse` builds one per minor on first use (make rehearse), so the in-place upgrade runs the real
// servers of both minors against the same etcd data:
//
//	go build -modfile go.1.36.mod -ldflags "-X k8s.io/component-base/version.gitVersion=v1.36.3 ..." -o kube-apiserver-1.36 .
//
// gen-mod.sh adds a minor. Its own Go module (each minor's dependency graph stays out of the harness's).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
