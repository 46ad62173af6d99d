output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the API server."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider ARN for IRSA."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "node_security_group_id" {
  description = "The cluster security group, which EKS attaches to managed nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "workload_role_arns" {
  description = "Workload IAM role ARNs by workload."
  value       = { for k, r in aws_iam_role.workload : k => r.arn }
}

output "node_groups" {
  description = "Node groups as created."
  value = {
    for name, g in aws_eks_node_group.this : name => {
      name           = g.node_group_name
      instance_types = g.instance_types
      capacity_type  = g.capacity_type
      labels         = g.labels
      taints         = [for t in g.taint : { key = t.key, value = t.value, effect = t.effect }]
      min_size       = g.scaling_config[0].min_size
      max_size       = g.scaling_config[0].max_size
      desired_size   = g.scaling_config[0].desired_size
    }
  }
}

output "oidc_issuer_host" {
  description = "The OIDC issuer without https:// (the prefix of IRSA trust conditions' keys)."
  value       = local.oidc_host
}

output "cluster_arn" {
  description = "EKS cluster ARN."
  value       = aws_eks_cluster.this.arn
}
