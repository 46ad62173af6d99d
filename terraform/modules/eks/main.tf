data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# The key policy AWS would apply by default, written out: the account (its IAM policies) administers and uses the
# key; EKS uses it through the cluster role's grants.
data "aws_iam_policy_document" "secrets_key" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself (AWS's default key policy); the principal is this account only.
  #checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself, not every resource.
  #checkov:skip=CKV_AWS_109:the account root administering its own key is AWS's default key policy; IAM policies decide who may.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

# Envelope encryption of Kubernetes secrets.
resource "aws_kms_key" "secrets" {
  description             = "${var.cluster_name} EKS secrets envelope encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.secrets_key.json
  tags                    = var.tags
}

resource "aws_iam_role" "cluster" {
  name_prefix = "${var.cluster_name}-cluster-"
  tags        = var.tags
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# The control plane's log group, in Terraform's state: EKS would otherwise create /aws/eks/<cluster>/cluster itself
# on first log, with no retention and none of the run's tags, and `terraform destroy` would leave it behind.
resource "aws_cloudwatch_log_group" "cluster" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data at rest with its own keys; a customer key would add a key policy for the logs service and its cost to a cost-bound platform.
  #checkov:skip=CKV_AWS_338:control-plane logs are kept var.cluster_log_retention_days (30 by default) to bound ingestion and storage cost; raise it in prod.tfvars when an audit trail must be kept longer.
  name              = "/aws/eks/${var.cluster_name}/cluster"
  retention_in_days = var.cluster_log_retention_days
  tags              = var.tags
}

resource "aws_eks_cluster" "this" {
  #checkov:skip=CKV_AWS_37:api, audit and authenticator logs are on; controllerManager and scheduler logs are off to keep CloudWatch ingestion (billed per GB) down on a cost-bound platform. Turn them on for an incident.
  #checkov:skip=CKV_AWS_38:the public endpoint's CIDRs are var.endpoint_public_access_cidrs: open by default so the runbook and the nightly can reach the API (IAM authenticates every call), narrowed in prod.tfvars.
  name     = var.cluster_name
  version  = var.cluster_version
  role_arn = aws_iam_role.cluster.arn
  tags     = var.tags

  vpc_config {
    subnet_ids              = var.control_plane_subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = length(var.endpoint_public_access_cidrs) > 0
    public_access_cidrs     = length(var.endpoint_public_access_cidrs) > 0 ? var.endpoint_public_access_cidrs : null
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.secrets.arn
    }
  }

  enabled_cluster_log_types = ["api", "audit", "authenticator"]

  # Standard support only: a version past it makes EKS refuse to keep the cluster there (upgrade first) instead of
  # silently billing extended support ($0.60/h per cluster instead of $0.10/h).
  upgrade_policy {
    support_type = "STANDARD"
  }

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.cluster]
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  policy_arn    = "arn:${data.aws_partition.current.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }

  depends_on = [aws_eks_access_entry.admin]
}
