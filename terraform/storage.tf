# Artifacts bucket for Flyte data, Ray checkpoints and KServe models: versioned, encrypted, never public.
resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:no server access logging: only the workload roles (IRSA) reach the bucket and CloudTrail records their calls; a log bucket would double the storage bill for little.
  #checkov:skip=CKV2_AWS_62:no event notifications: nothing consumes bucket events (Flyte and KServe poll what they need).
  #checkov:skip=CKV_AWS_144:no cross-region replication: a single-region platform by design; artifacts are reproducible by re-running the pipelines, and versioning covers mistakes.
  bucket        = local.artifacts_bucket
  force_destroy = var.artifacts_force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Versioned objects would otherwise grow without bound: old versions expire after 30 days, unfinished multipart
# uploads (aborted training checkpoints) after 7.
resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    # The whole bucket: an explicit empty prefix (an empty `filter {}` warns "Invalid Attribute Combination" with
    # provider >= 5.90 and is to become an error: hashicorp/terraform-provider-aws#42112).
    filter {
      prefix = ""
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}
