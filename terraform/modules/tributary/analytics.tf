# Glue Data Catalog database for the marts, and an Athena workgroup whose results stay encrypted
# in the marts bucket.

resource "aws_glue_catalog_database" "lake" {
  name        = replace("${local.prefix}_lake", "-", "_")
  description = "Tributary ${var.environment} marts (pseudonymised)."
}

resource "aws_athena_workgroup" "analytics" {
  name          = local.prefix
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this["marts"].bucket}/athena-results/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.this["marts"].arn
      }
    }
  }
}
