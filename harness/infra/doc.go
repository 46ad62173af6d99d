// Package infra holds what runs against terraform/ itself: the static policy tier (named policies over the HCL
// and each environment's tfvars, needing no provider) and, later, the Terraform runner for the apply tier.
package infra
