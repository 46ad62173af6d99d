// Package static checks the platform artifacts without a cluster or a provider: Terraform formatting and
// declarations, Helm lint and rendering (golden files, `go test ./test/static -update` rewrites them), values
// schemas, Python syntax and manifest parsing.
package static
