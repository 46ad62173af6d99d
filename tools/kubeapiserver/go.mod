// The root of this module for the go command; every build names its minor's file with -modfile go.1.NN.mod
// (see main.go and gen-mod.sh).
module github.com/eks-mlops/eks-mlops-enterprise-grade/tools/kubeapiserver

go 1.25.0
