// Package local is the local tier: suites that start embedded EKS-shaped clusters and need no Docker, AWS or
// network. `make test-local` runs it.
package local
