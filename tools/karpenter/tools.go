//go:build tools

// Package tools pins the real Karpenter AWS provider (github.com/aws/karpenter-provider-aws, the version of the
// platform's Karpenter chart). Its own kwok command — the AWS provider whose EC2 client launches kwok nodes instead
// of instances, as Karpenter's scale tests run it — is built unchanged from the module cache: `make karpenter-aws`.
// Its requirements are this module's: main.go's generic kwok Karpenter builds with the same Kubernetes libraries
// and Karpenter core, so the two binaries share their compiled packages (one `go build` of both, see the Makefile).
package tools

import _ "github.com/aws/karpenter-provider-aws/kwok/operator"
