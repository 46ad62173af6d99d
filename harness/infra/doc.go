// Package infra runs terraform/ against an AWS backend: the apply tier (ApplyTier: a Terratest
// init/apply/plan/destroy of a temporary copy against an AWS backend from package cloud, as one call used by
// `harness apply`, `harness check --apply` and the nightly real-AWS test) and the nightly's staged teardown. The
// static policies over the same HCL are check/policy's.
package infra
