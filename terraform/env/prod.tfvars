# Production. Overrides only: more system headroom, GPU group may grow to four nodes, RDS for Flyte metadata.
environment = "prod"
enable_rds  = true

endpoint_public_access_cidrs = ["203.0.113.0/24"]

node_groups = {
  system = {
    instance_types = ["t3.large"]
    min_size       = 2
    max_size       = 4
    desired_size   = 3
    labels = {
      "node-role.mlops.io/system" = "true"
    }
  }
  gpu = {
    instance_types = ["g4dn.xlarge"]
    ami_type       = "AL2023_x86_64_NVIDIA"
    min_size       = 0
    max_size       = 4
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
