output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the EKS API server."
  value       = module.eks.cluster_certificate_authority_data
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for IRSA."
  value       = module.eks.oidc_provider_arn
}

output "node_groups" {
  description = "Managed node groups as created: name, instance types, labels, taints, sizes."
  value       = module.eks.node_groups
}

output "artifacts_bucket" {
  description = "S3 bucket for pipeline artifacts and models."
  value       = aws_s3_bucket.artifacts.bucket
}

output "workload_role_arns" {
  description = "IAM roles workloads assume through IRSA, by workload (var.workload_identities)."
  value       = module.eks.workload_role_arns
}

output "database_endpoint" {
  description = "PostgreSQL endpoint for Flyte metadata, or null when enable_rds is false."
  value       = var.enable_rds ? aws_db_instance.metadata[0].endpoint : null
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the RDS master password (managed by RDS), or null when enable_rds is false."
  value       = var.enable_rds ? aws_db_instance.metadata[0].master_user_secret[0].secret_arn : null
}
