data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]
  tags            = var.tags
}

locals {
  oidc_host = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  # Service accounts allowed to assume each role: the workloads' (var.workload_identities) and the add-ons'.
  irsa_service_accounts = merge(
    { for k, w in var.workload_identities : k => w.service_accounts },
    {
      "ebs-csi" = [{ namespace = "kube-system", name = "ebs-csi-controller-sa" }]
      "vpc-cni" = [{ namespace = "kube-system", name = "aws-node" }]
    },
  )
}

# Trust: the cluster's OIDC provider, audience sts.amazonaws.com, and exactly the listed service accounts. The
# token's subject is system:serviceaccount:<namespace>:<name>.
data "aws_iam_policy_document" "irsa" {
  for_each = local.irsa_service_accounts

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = [for sa in each.value : "system:serviceaccount:${sa.namespace}:${sa.name}"]
    }
  }
}

# One role per workload, named <cluster>-<workload> (a fixed name: the GitOps side gets its ARN from the root
# module's gitops_metadata), with read or read-write access to the artifacts bucket only.
resource "aws_iam_role" "workload" {
  for_each = var.workload_identities

  name               = "${var.cluster_name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.irsa[each.key].json
  tags               = var.tags
}

data "aws_iam_policy_document" "bucket" {
  for_each = var.workload_identities

  statement {
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.artifacts_bucket_arn]
  }
  statement {
    actions   = each.value.bucket_access == "read" ? ["s3:GetObject"] : ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "bucket" {
  for_each = var.workload_identities

  name   = "artifacts-bucket"
  role   = aws_iam_role.workload[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json
}

resource "aws_iam_role" "ebs_csi" {
  name_prefix        = "${var.cluster_name}-ebs-csi-"
  assume_role_policy = data.aws_iam_policy_document.irsa["ebs-csi"].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

# The VPC CNI (aws-node) manages the pods' ENIs and addresses with its own role (IRSA), as AWS recommends,
# rather than through the node role.
resource "aws_iam_role" "vpc_cni" {
  name_prefix        = "${var.cluster_name}-vpc-cni-"
  assume_role_policy = data.aws_iam_policy_document.irsa["vpc-cni"].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "vpc_cni" {
  role       = aws_iam_role.vpc_cni.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
}
