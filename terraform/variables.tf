variable "project" {
  description = "Project name; prefixes resource names and fills the `project` tag."
  type        = string
  default     = "mlops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (local, dev, prod); fills the `environment` tag and resource names. Pick one with -var-file=env/<environment>.tfvars; a bare `terraform apply` builds dev."
  type        = string
  default     = "dev"

  validation {
    condition     = contains(["local", "dev", "prod"], var.environment)
    error_message = "environment must be one of local, dev, prod."
  }
}

variable "owner" {
  description = "Team or person accountable for the resources; fills the `owner` tag."
  type        = string
  default     = "platform-team"
}

variable "cost_center" {
  description = "Cost center billed for the resources; fills the `cost-center` tag."
  type        = string
  default     = "ml-platform"
}

variable "expires_at" {
  description = "Optional RFC 3339 timestamp after which a test run's resources may be reaped; fills the `expires-at` tag when set."
  type        = string
  default     = null

  validation {
    condition     = var.expires_at == null || can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be an RFC 3339 timestamp such as 2026-01-31T23:00:00Z."
  }
}

variable "run_id" {
  description = "Optional id of the test run that applies this configuration; fills the `run-id` tag when set (the nightly's leak scan after destroy)."
  type        = string
  default     = null

  validation {
    condition     = var.run_id == null || can(regex("^[A-Za-z0-9_.:/=+@-]{1,128}$", var.run_id))
    error_message = "run_id must be 1-128 characters valid in an AWS tag value."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Two availability zones of var.region: EKS needs control-plane subnets in at least two; worker nodes and the NAT gateway live only in the first. The default suits the default region; set both together."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "availability_zones must hold exactly two distinct zones; nodes use the first."
  }
  validation {
    condition     = alltrue([for z in var.availability_zones : can(regex("^${var.region}[a-z]$", z))])
    error_message = "availability_zones must be zones of var.region (region followed by a zone letter, e.g. eu-west-1a for eu-west-1): set both together."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /20 or larger."
  }
}

variable "cluster_version" {
  description = "EKS Kubernetes version (major.minor); must be in EKS standard support on the day of the plan (local.eks_standard_support_ends in versions.tf)."
  type        = string
  default     = "1.35"

  # Terraform >= 1.9 lets a validation read locals: the support calendar is one table, also read by the harness.
  validation {
    condition     = timecmp(plantimestamp(), lookup(local.eks_standard_support_ends, var.cluster_version, "1970-01-01T00:00:00Z")) < 0
    error_message = "cluster_version must be a 1.NN version in EKS standard support today (see local.eks_standard_support_ends in versions.tf); outside it EKS bills extended support."
  }
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint. Empty list disables public access."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "endpoint_public_access_cidrs must hold valid IPv4 CIDRs."
  }
}

variable "admin_principal_arns" {
  description = "IAM principal ARNs granted cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = <<-EOT
    EKS managed node groups keyed by name. Plain data: the test harness reads it statically to shape its emulated
    cluster. Taint effects use the EKS API spelling (NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE).
  EOT
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size      = optional(number, 50)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = optional(string, "")
      effect = string
    })), [])
  }))
  default = {
    system = {
      instance_types = ["t3.large"]
      capacity_type  = "ON_DEMAND"
      ami_type       = "AL2023_x86_64_STANDARD"
      min_size       = 2
      max_size       = 3
      desired_size   = 2
      disk_size      = 50
      labels = {
        "node-role.mlops.io/system" = "true"
      }
    }
    gpu = {
      instance_types = ["g4dn.xlarge"]
      capacity_type  = "ON_DEMAND"
      ami_type       = "AL2023_x86_64_NVIDIA"
      min_size       = 0
      max_size       = 3
      desired_size   = 1
      disk_size      = 100
      labels = {
        "node-role.mlops.io/gpu" = "true"
        # The NVIDIA device plugin chart schedules only on nodes with this label (set by GPU feature
        # discovery, which this platform does not run): without it no node advertises nvidia.com/gpu.
        "nvidia.com/gpu.present" = "true"
      }
      taints = [{
        key    = "nvidia.com/gpu"
        value  = "true"
        effect = "NO_SCHEDULE"
      }]
    }
  }

  validation {
    condition = alltrue([
      for name, g in var.node_groups :
      g.min_size >= 0 && g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.max_size >= 1
    ])
    error_message = "Every node group needs 0 <= min_size <= desired_size <= max_size and max_size >= 1."
  }

  validation {
    condition = alltrue([
      for name, g in var.node_groups :
      length(g.instance_types) > 0 && alltrue([for t in g.instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    ])
    error_message = "Every node group needs at least one instance type shaped like family.size (e.g. g4dn.xlarge)."
  }

  validation {
    condition     = alltrue([for name, g in var.node_groups : contains(["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"], g.capacity_type)])
    error_message = "capacity_type must be ON_DEMAND, SPOT or CAPACITY_BLOCK."
  }

  validation {
    condition = alltrue(flatten([
      for name, g in var.node_groups : [for t in g.taints : contains(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"], t.effect)]
    ]))
    error_message = "Taint effect must be NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE."
  }
}

variable "workload_identities" {
  description = <<-EOT
    IAM roles for workloads (IRSA), keyed by workload: the role <cluster>-<key> may be assumed by exactly the listed
    service accounts and reads (read) or writes (read-write) the artifacts bucket. Plain data: the harness checks that
    each service account is created by a chart or manifest, with the role-arn annotation pointing back here.
  EOT
  type = map(object({
    bucket_access = string
    service_accounts = list(object({
      namespace = string
      name      = string
    }))
  }))
  default = {
    # The Flyte control plane (flyte-binary) and the task pods of the flytesnacks project's development domain
    # (executions run as flyte-tasks: `pyflyte run --remote --service-account flyte-tasks`).
    flyte = {
      bucket_access = "read-write"
      service_accounts = [
        { namespace = "flyte", name = "flyte-binary" },
        { namespace = "flytesnacks-development", name = "flyte-tasks" },
      ]
    }
    # Ray training jobs (RayJob/RayCluster pods in ml-training).
    ray = {
      bucket_access    = "read-write"
      service_accounts = [{ namespace = "ml-training", name = "ray-training" }]
    }
    # Ray Serve (RayService pods in models) loads the model the Ray training job publishes.
    ray-serve = {
      bucket_access    = "read"
      service_accounts = [{ namespace = "models", name = "ray-serve" }]
    }
    # KServe predictors (the storage initializer downloads the model).
    kserve = {
      bucket_access    = "read"
      service_accounts = [{ namespace = "models", name = "sklearn-iris" }]
    }
  }

  validation {
    condition     = alltrue([for k, w in var.workload_identities : contains(["read", "read-write"], w.bucket_access)])
    error_message = "bucket_access must be read or read-write."
  }
}

variable "enable_rds" {
  description = "Create a PostgreSQL RDS instance for Flyte metadata. Off: Flyte uses the in-cluster PostgreSQL the platform-config chart runs (local, dev)."
  type        = bool
  default     = false
}

variable "rds_instance_class" {
  description = "RDS instance class when enable_rds is true."
  type        = string
  default     = "db.t4g.medium"
}

variable "artifacts_force_destroy" {
  description = "Allow destroying the artifacts bucket while it still holds objects (test environments only)."
  type        = bool
  default     = false
}

variable "enable_karpenter" {
  description = <<-EOT
    Karpenter for GPU capacity beside the GPU node group (terraform/karpenter.tf; helm: applications.karpenter and
    karpenterNodePools): the controller's IRSA role, the node role and instance profile, the interruption queue and
    its EventBridge rules, the discovery tags on the node subnet and the cluster security group. Off in dev and prod
    until tried on AWS; on in local, where the harness runs the real Karpenter against the emulated cluster.
  EOT
  type        = bool
  default     = false
}
