// Package aws is the nightly real-AWS tier (build tag aws): it applies terraform/ to a real account with
// Terratest, checks what AWS created with the same SDK checks the emulator tier uses, runs `harness check` on the
// real EKS cluster through the existing backend, smoke-tests Ray training, Flyte training and KServe inference on
// the g4dn node, and always destroys. It costs money: it refuses to start unless HARNESS_AWS_ACCOUNT names the
// account the credentials belong to. The flow after apply is test/nightly's, which make test runs every day
// against an embedded cluster and moto (test/local/nightly_test.go).
//
//	make build && HARNESS_AWS_ACCOUNT=123456789012 AWS_REGION=us-east-1 make test-aws
//
// Optional: HARNESS_ENV (default dev), HARNESS_FLYTE_IMAGE (an image with flytekit, scikit-learn, joblib and
// numpy for `pyflyte run --remote --image`; without it, or without pyflyte on PATH, the Flyte smoke test is
// skipped with that reason, and KServe then serves only a model that is already published).
package aws
