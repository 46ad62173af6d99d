// Package shape turns the EKS node groups that terraform/ declares into the nodes a local cluster must emulate.
//
// It reads `variable "node_groups"` (and region / availability zones) from terraform/variables.tf with
// hashicorp/hcl/v2, applies the environment's tfvars the way Terraform does (a tfvars value replaces the
// variable's default, then optional() attributes get their defaults), and looks each instance type up in an
// in-code catalog (vCPU, memory, GPUs, max pods, on-demand price). No Terraform binary or provider is needed.
package shape
