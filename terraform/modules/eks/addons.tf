# The VPC CNI first, with its IRSA role: nodes become Ready only once aws-node can manage ENIs, so the node
# groups wait for it (node_groups.tf), never the other way round.
# EKS does not update add-ons with the control plane (kube-proxy must follow the minor): each add-on is pinned to
# EKS's default version for the cluster's version, so a cluster_version change updates them in the same apply.
data "aws_eks_addon_version" "this" {
  for_each = toset(["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"])

  addon_name         = each.value
  kubernetes_version = aws_eks_cluster.this.version
  most_recent        = false
}

resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  addon_version               = data.aws_eks_addon_version.this["vpc-cni"].version
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  service_account_role_arn    = aws_iam_role.vpc_cni.arn
  tags                        = var.tags
  # The platform's default-deny NetworkPolicies (helm/platform-config) are enforced only when the VPC CNI runs its
  # network policy agent; the add-on leaves it off unless configured (EKS user guide, "Limit pod traffic with
  # Kubernetes network policies").
  configuration_values = jsonencode({ enableNetworkPolicy = "true" })

  depends_on = [aws_iam_role_policy_attachment.vpc_cni]
}

# The other managed add-ons, at EKS's default version for the cluster version.
resource "aws_eks_addon" "this" {
  for_each = toset(["coredns", "kube-proxy", "aws-ebs-csi-driver"])

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  addon_version               = data.aws_eks_addon_version.this[each.value].version
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "PRESERVE"
  service_account_role_arn    = each.value == "aws-ebs-csi-driver" ? aws_iam_role.ebs_csi.arn : null
  tags                        = var.tags

  # coredns and the EBS CSI controller need nodes to schedule on.
  depends_on = [aws_eks_node_group.this]
}
