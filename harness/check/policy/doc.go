// Package policy holds the static policies over terraform/ itself: named policies over the HCL syntax and the
// platform model's shape, needing no provider, every violation naming file:line (single AZ, the GPU node group,
// IMDSv2, encryption, S3 public access, tags, node IAM, formatting, variable validations, the cluster version
// against EKS's support calendar), and what the upgrade rehearsal reads from the same HCL (version pins, add-ons,
// whether the configuration accepts a target version). Verdicts live under package check; this is one of them.
package policy
