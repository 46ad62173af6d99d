locals {
  name = "${var.project}-${var.environment}"

  # Required tags on every taggable resource; expires-at only when a test run sets it.
  tags = merge(
    {
      project       = var.project
      environment   = var.environment
      owner         = var.owner
      "cost-center" = var.cost_center
      "managed-by"  = "terraform"
    },
    var.expires_at == null ? {} : { "expires-at" = var.expires_at },
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
  tags                         = local.tags
}
