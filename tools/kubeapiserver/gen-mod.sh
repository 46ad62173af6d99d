#!/usr/bin/env bash
# gen-mod.sh v1.NN.P: writes go.1.NN.mod/.sum pinning k8s.io/kubernetes v1.NN.P and every staging module it
# replaces (./staging/src/k8s.io/X) at v0.NN.P, as the Go module proxy serves them. Then `make rehearse` builds it.
set -euo pipefail
cd "$(dirname "$0")"
ver=${1:?usage: gen-mod.sh v1.NN.P}
minor=$(echo "$ver" | cut -d. -f1-2 | sed 's/^v//')
staging=v0.${ver#v1.}
dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
mod="go.$minor.mod"
{
  echo "module github.com/eks-mlops/eks-mlops-enterprise-grade/tools/kubeapiserver"
  echo
  echo "go $(sed -n 's/^go //p' "$dir/go.mod")"
  echo
  echo "require k8s.io/kubernetes $ver"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$dir/go.mod"
  echo ")"
} > "$mod"
rm -f "go.$minor.sum"
go mod tidy -modfile "$mod"
echo "wrote $mod"
