data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name = "${var.project}-${var.environment}"

  # Names the GitOps side uses are computed here, once, from inputs (never random suffixes): the resources take
  # them from these locals and gitops.tf publishes them. S3 bucket names are global, so the account ID keeps the
  # artifacts bucket unique across the accounts that run this platform.
  artifacts_bucket = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"

  # Required tags on every taggable resource; expires-at and run-id only when a test run sets them (`harness reap`
  # deletes what expired; the nightly's leak scan looks for its run-id after destroy).
  tags = merge(
    {
      project       = var.project
      environment   = var.environment
      owner         = var.owner
      "cost-center" = var.cost_center
      "managed-by"  = "terraform"
    },
    var.expires_at == null ? {} : { "expires-at" = var.expires_at },
    var.run_id == null ? {} : { "run-id" = var.run_id },
  )
}

provider "aws" {
  region = var.region
}

module "vpc" {
  source = "./modules/vpc"

  name               = local.name
  region             = var.region
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  cluster_name       = local.name
  tags               = local.tags
  # Karpenter finds the subnet its nodes go to by this tag (terraform/karpenter.tf): only the node subnet has it.
  node_subnet_tags = var.enable_karpenter ? { "karpenter.sh/discovery" = local.name } : {}
}

module "eks" {
  source = "./modules/eks"

  cluster_name                 = local.name
  cluster_version              = var.cluster_version
  control_plane_subnet_ids     = module.vpc.private_subnet_ids
  node_subnet_ids              = [module.vpc.private_subnet_ids[0]]
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  admin_principal_arns         = var.admin_principal_arns
  node_groups                  = var.node_groups
  artifacts_bucket_arn         = aws_s3_bucket.artifacts.arn
  workload_identities          = var.workload_identities
  tags                         = local.tags
}
