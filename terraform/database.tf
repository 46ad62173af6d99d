# Optional PostgreSQL for Flyte metadata. Off by default: flyte-binary then uses its embedded database.
resource "aws_db_subnet_group" "metadata" {
  count = var.enable_rds ? 1 : 0

  name       = "${local.name}-metadata"
  subnet_ids = module.vpc.private_subnet_ids
  tags       = local.tags
}

resource "aws_security_group" "metadata" {
  count = var.enable_rds ? 1 : 0

  name_prefix = "${local.name}-metadata-"
  description = "PostgreSQL for Flyte metadata, reachable from the cluster's nodes only"
  vpc_id      = module.vpc.vpc_id
  tags        = local.tags

  ingress {
    description     = "PostgreSQL from EKS nodes"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [module.eks.node_security_group_id]
  }
}

resource "aws_db_instance" "metadata" {
  #checkov:skip=CKV2_AWS_30:no query logging: every Flyte metadata query would be shipped to CloudWatch at a cost; errors and slow queries are in the default PostgreSQL log.
  count = var.enable_rds ? 1 : 0

  identifier_prefix           = "${local.name}-metadata-"
  engine                      = "postgres"
  engine_version              = "16"
  instance_class              = var.rds_instance_class
  allocated_storage           = 20
  storage_type                = "gp3"
  storage_encrypted           = true
  db_name                     = "flyte"
  username                    = "flyte"
  manage_master_user_password = true
  db_subnet_group_name        = aws_db_subnet_group.metadata[0].name
  vpc_security_group_ids      = [aws_security_group.metadata[0].id]
  availability_zone           = var.availability_zones[0]
  multi_az                    = false
  backup_retention_period     = var.environment == "prod" ? 7 : 1
  deletion_protection         = var.environment == "prod"
  skip_final_snapshot         = var.environment != "prod"
  final_snapshot_identifier   = var.environment == "prod" ? "${local.name}-metadata-final" : null
  copy_tags_to_snapshot       = true
  tags                        = local.tags
}
