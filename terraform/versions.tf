terraform {
  # Validations that read locals need Terraform >= 1.9 (OpenTofu >= 1.8).
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 7.0.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0.0"
    }
  }
}

locals {
  # End of EKS standard support per Kubernetes version (AWS's published calendar; the newest entries are AWS's
  # announced estimates). cluster_version's validation and the harness's policy/cluster-version both read this
  # table. Keep it current: a version past its date is refused at plan.
  eks_standard_support_ends = {
    "1.29" = "2025-03-23T00:00:00Z"
    "1.30" = "2025-07-23T00:00:00Z"
    "1.31" = "2025-11-26T00:00:00Z"
    "1.32" = "2026-03-23T00:00:00Z"
    "1.33" = "2026-07-29T00:00:00Z"
    "1.34" = "2026-12-02T00:00:00Z"
    "1.35" = "2027-03-27T00:00:00Z"
  }
}
