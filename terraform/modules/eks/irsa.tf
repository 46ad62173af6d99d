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
}

data "aws_iam_policy_document" "irsa" {
  for_each = merge(var.irsa_service_accounts, { "ebs-csi" = ["kube-system/ebs-csi-controller-sa"] })

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
      values   = [for sa in each.value : "system:serviceaccount:${sa}"]
    }
  }
}

# Roles for Flyte and KServe: read/write (Flyte) or read (KServe) on the artifacts bucket only.
resource "aws_iam_role" "workload" {
  for_each = var.irsa_service_accounts

  name_prefix        = "${var.cluster_name}-${each.key}-"
  assume_role_policy = data.aws_iam_policy_document.irsa[each.key].json
  tags               = var.tags
}

data "aws_iam_policy_document" "bucket" {
  for_each = var.irsa_service_accounts

  statement {
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.artifacts_bucket_arn]
  }
  statement {
    actions   = each.key == "kserve" ? ["s3:GetObject"] : ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "bucket" {
  for_each = var.irsa_service_accounts

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
