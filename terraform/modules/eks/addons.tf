# The VPC CNI first, with its IRSA role: nodes become Ready only once aws-node can manage ENIs, so the node
# groups wait for it (node_groups.tf), never the other way round.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  service_account_role_arn    = aws_iam_role.vpc_cni.arn
  tags                        = var.tags

  depends_on = [aws_iam_role_policy_attachment.vpc_cni]
}

# The other managed add-ons; versions float to EKS's default for the cluster version.
resource "aws_eks_addon" "this" {
  for_each = toset(["coredns", "kube-proxy", "aws-ebs-csi-driver"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  service_account_role_arn    = each.value == "aws-ebs-csi-driver" ? aws_iam_role.ebs_csi.arn : null
  tags                        = var.tags

  # coredns and the EBS CSI controller need nodes to schedule on.
  depends_on = [aws_eks_node_group.this]
}
