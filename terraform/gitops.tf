# The GitOps Bridge: everything the GitOps side needs from Terraform, in one object. Argo CD's root Application
# receives it as the platform-app chart's `global.aws` values (README: "Deploy"), and every Application's values,
# every workflow manifest (${ARTIFACTS_BUCKET}-style placeholders) and the harness read names only from there.
# Keys are the chart's value names; the harness checks that every key the GitOps side uses exists here.
locals {
  gitops_metadata = {
    environment     = var.environment
    region          = var.region
    accountId       = data.aws_caller_identity.current.account_id
    clusterName     = local.name
    artifactsBucket = local.artifacts_bucket
    # The platform's required tags (run-id and expires-at in test runs), for what the GitOps side makes AWS create
    # (Karpenter's instances): the reaper and the leak scan find them by these.
    tags = local.tags
    # Role ARNs from their fixed names (<cluster>-<workload>), so the map is known at plan time.
    roles = {
      for k, w in var.workload_identities :
      k => "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${local.name}-${k}"
    }
    # Karpenter (terraform/karpenter.tf): empty names when off. The chart's service account takes controllerRole;
    # the EC2NodeClass takes instanceProfile and selects subnets and security groups by discovery.
    karpenter = {
      enabled           = var.enable_karpenter
      controllerRole    = var.enable_karpenter ? "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${local.karpenter_controller_role}" : ""
      instanceProfile   = var.enable_karpenter ? local.karpenter_node_role : ""
      interruptionQueue = var.enable_karpenter ? local.karpenter_queue : ""
      discovery         = var.enable_karpenter ? local.karpenter_discovery : ""
    }
    # Flyte metadata: RDS when enabled (master password in Secrets Manager, copied into the Kubernetes Secret
    # named by passwordSecret at deploy time: README "Deploy"), else the in-cluster PostgreSQL of platform-config.
    database = var.enable_rds ? {
      host           = aws_db_instance.metadata[0].address
      port           = 5432
      name           = "flyte"
      username       = "flyte"
      inCluster      = false
      options        = "sslmode=require"
      passwordSecret = "flyte-db-password"
      secretArn      = aws_db_instance.metadata[0].master_user_secret[0].secret_arn
      } : {
      host           = "flyte-db.flyte.svc.cluster.local"
      port           = 5432
      name           = "flyte"
      username       = "flyte"
      inCluster      = true
      options        = "sslmode=disable"
      passwordSecret = ""
      secretArn      = ""
    }
  }
}

output "gitops_metadata" {
  description = "The GitOps Bridge: names, role ARNs and the database the platform-app chart takes as global.aws."
  value       = local.gitops_metadata
}

output "gitops_bootstrap_patch" {
  description = "The bridge step of the runbook: a merge patch giving the root Application (helm/bootstrap.yaml) the metadata as global.aws. kubectl -n argocd patch application platform-app --type merge -p \"$(terraform output -raw gitops_bootstrap_patch)\""
  value       = jsonencode({ spec = { source = { helm = { valuesObject = { global = { aws = local.gitops_metadata } } } } } })
}
