variable "cluster_name" {
  description = "EKS cluster name."
  type        = string
}

variable "cluster_version" {
  description = "Kubernetes version (major.minor)."
  type        = string
}

variable "control_plane_subnet_ids" {
  description = "Subnets for the control plane's network interfaces; must span at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.control_plane_subnet_ids) >= 2
    error_message = "EKS needs control-plane subnets in at least two availability zones."
  }
}

variable "node_subnet_ids" {
  description = "Subnets for the managed node groups (one zone for a single-AZ data plane)."
  type        = list(string)
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; empty disables public access."
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM principals given cluster-admin through access entries."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "Managed node groups keyed by name; see the root module's variable of the same name."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    ami_type       = string
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size      = number
    labels         = map(string)
    taints = list(object({
      key    = string
      value  = string
      effect = string
    }))
  }))
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket that Flyte and KServe reach through IRSA."
  type        = string
}

variable "workload_identities" {
  description = "Workload IAM roles (IRSA) keyed by workload; see the root module's variable of the same name."
  type = map(object({
    bucket_access = string
    service_accounts = list(object({
      namespace = string
      name      = string
    }))
  }))
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "cluster_log_retention_days" {
  description = "Days CloudWatch keeps the control plane's logs (api, audit, authenticator)."
  type        = number
  default     = 30
}
