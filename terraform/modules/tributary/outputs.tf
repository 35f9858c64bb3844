output "lake_bucket" {
  description = "Raw lake bucket name."
  value       = aws_s3_bucket.this["lake"].bucket
}

output "marts_bucket" {
  description = "Marts bucket name (also holds Athena results)."
  value       = aws_s3_bucket.this["marts"].bucket
}

output "identity_bucket" {
  description = "Identity store bucket name."
  value       = aws_s3_bucket.this["identity"].bucket
}

output "triage_bucket" {
  description = "Triage bucket name."
  value       = aws_s3_bucket.this["triage"].bucket
}

output "audit_bucket" {
  description = "Audit bucket name (Object Lock, COMPLIANCE)."
  value       = aws_s3_bucket.this["audit"].bucket
}

output "lake_kms_key_arn" {
  description = "KMS key for the raw lake."
  value       = aws_kms_key.this["lake"].arn
}

output "marts_kms_key_arn" {
  description = "KMS key for the marts and Athena results."
  value       = aws_kms_key.this["marts"].arn
}

output "identity_kms_key_arn" {
  description = "KMS key for the identity store (decrypt: reidentify role only)."
  value       = aws_kms_key.this["identity"].arn
}

output "audit_kms_key_arn" {
  description = "KMS key for the audit trail."
  value       = aws_kms_key.this["audit"].arn
}

output "triage_kms_key_arn" {
  description = "KMS key for the triage bucket."
  value       = aws_kms_key.this["triage"].arn
}

output "hmac_kms_key_arn" {
  description = "Active pseudonym HMAC key (HMAC_256)."
  value       = aws_kms_key.hmac[var.hmac_active_key_version].arn
}

output "hmac_kms_alias_arn" {
  description = "Alias that points at the active pseudonym HMAC key."
  value       = aws_kms_alias.hmac.arn
}

output "hmac_key_version" {
  description = "Generation of the active pseudonym HMAC key."
  value       = var.hmac_active_key_version
}

output "glue_database" {
  description = "Glue Data Catalog database for the marts."
  value       = aws_glue_catalog_database.lake.name
}

output "athena_workgroup" {
  description = "Athena workgroup (results encrypted in the marts bucket)."
  value       = aws_athena_workgroup.analytics.name
}

output "ingest_topic_arn" {
  description = "SNS topic ingest and triage publish to."
  value       = aws_sns_topic.ingest.arn
}

output "etl_queue_arn" {
  description = "SQS queue that triggers the etl function."
  value       = aws_sqs_queue.etl.arn
}

output "etl_dlq_arn" {
  description = "Dead-letter queue of the ETL queue."
  value       = aws_sqs_queue.etl_dlq.arn
}

output "versions_table" {
  description = "DynamoDB FHIR version index table name."
  value       = aws_dynamodb_table.versions.name
}

output "versions_table_arn" {
  description = "DynamoDB FHIR version index table ARN."
  value       = aws_dynamodb_table.versions.arn
}

output "ingest_role_arn" {
  description = "Execution role of the ingest function."
  value       = aws_iam_role.function["ingest"].arn
}

output "etl_role_arn" {
  description = "Execution role of the etl function."
  value       = aws_iam_role.function["etl"].arn
}

output "metadata_role_arn" {
  description = "Execution role of the metadata function."
  value       = aws_iam_role.function["metadata"].arn
}

output "validate_role_arn" {
  description = "Execution role of the validate function."
  value       = aws_iam_role.function["validate"].arn
}

output "not_allowed_role_arn" {
  description = "Execution role of the notAllowed function."
  value       = aws_iam_role.function["notAllowed"].arn
}

output "authorizer_role_arn" {
  description = "Execution role of the authorizer function."
  value       = aws_iam_role.function["authorizer"].arn
}

output "triage_role_arn" {
  description = "Execution role of the triage function."
  value       = aws_iam_role.function["triage"].arn
}

output "reidentify_role_arn" {
  description = "Execution role of the reidentify function (the only identity store reader)."
  value       = aws_iam_role.function["reidentify"].arn
}

output "oidc_issuer" {
  description = "OIDC issuer the authorizer trusts."
  value       = var.oidc_issuer
}

output "oidc_audience" {
  description = "Expected JWT audience."
  value       = var.oidc_audience
}

output "api_endpoint_type" {
  description = "API Gateway endpoint type serverless.yml deploys: PRIVATE when private_api, else REGIONAL."
  value       = local.ssm_core.api_endpoint_type
}

output "api_vpc_endpoint_id" {
  description = "execute-api VPC endpoint id (null unless private_api)."
  value       = one(aws_vpc_endpoint.execute_api[*].id)
}

output "log_group_names" {
  description = "CloudWatch log group per function."
  value       = { for name, group in aws_cloudwatch_log_group.function : name => group.name }
}

output "api_access_log_group" {
  description = "CloudWatch log group of the REST API's access logs (/aws/api-gateway/<service>-<stage>)."
  value       = aws_cloudwatch_log_group.service["api_access"].name
}

output "api_gateway_cloudwatch_role_arn" {
  description = "Account-level API Gateway CloudWatch Logs role (null unless manage_api_gateway_account)."
  value       = one(aws_iam_role.api_gateway_cloudwatch[*].arn)
}

output "ssm_parameter_names" {
  description = "SSM parameter name per configuration value."
  value       = merge({ for name, parameter in aws_ssm_parameter.config : name => parameter.name }, { for parameter in aws_ssm_parameter.api_vpc_endpoint_ids : "api_vpc_endpoint_ids" => parameter.name })
}

output "ssm_prefix" {
  description = "SSM path prefix serverless.yml reads from."
  value       = local.ssm_prefix
}

output "console_url" {
  description = "The operations console (CloudFront)."
  value       = "https://${aws_cloudfront_distribution.console.domain_name}"
}

output "console_bucket" {
  description = "Bucket of the console's static assets (aws s3 sync dist/console s3://<bucket>/)."
  value       = aws_s3_bucket.console.bucket
}

output "jobs_table" {
  description = "DynamoDB table of ETL job records."
  value       = aws_dynamodb_table.jobs.name
}
