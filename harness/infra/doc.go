// Package infra holds what runs against terraform/ itself: the static policy tier (named policies over the
// HCL syntax and the platform model's shape, needing no provider; every violation names file:line) and the
// apply tier (ApplyTier: a Terratest init/apply/plan/destroy of a temporary copy against an AWS backend from
// package cloud, as one call used by `harness apply`, `harness check --apply` and the nightly real-AWS test).
package infra
