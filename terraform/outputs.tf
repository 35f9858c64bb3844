output "lake_bucket" {
  description = "Raw lake bucket name."
  value       = module.tributary.lake_bucket
}

output "marts_bucket" {
  description = "Marts bucket name (also holds Athena results)."
  value       = module.tributary.marts_bucket
}

output "identity_bucket" {
  description = "Identity store bucket name."
  value       = module.tributary.identity_bucket
}

output "triage_bucket" {
  description = "Triage bucket name."
  value       = module.tributary.triage_bucket
}

output "audit_bucket" {
  description = "Audit bucket name (Object Lock, COMPLIANCE)."
  value       = module.tributary.audit_bucket
}

output "lake_kms_key_arn" {
  description = "KMS key for the raw lake."
  value       = module.tributary.lake_kms_key_arn
}

output "marts_kms_key_arn" {
  description = "KMS key for the marts and Athena results."
  value       = module.tributary.marts_kms_key_arn
}

output "identity_kms_key_arn" {
  description = "KMS key for the identity store (decrypt: reidentify role only)."
  value       = module.tributary.identity_kms_key_arn
}

output "audit_kms_key_arn" {
  description = "KMS key for the audit trail."
  value       = module.tributary.audit_kms_key_arn
}

output "triage_kms_key_arn" {
  description = "KMS key for the triage bucket."
  value       = module.tributary.triage_kms_key_arn
}

output "hmac_kms_key_arn" {
  description = "Active pseudonym HMAC key (HMAC_256)."
  value       = module.tributary.hmac_kms_key_arn
}

output "hmac_kms_alias_arn" {
  description = "Alias that points at the active pseudonym HMAC key."
  value       = module.tributary.hmac_kms_alias_arn
}

output "hmac_key_version" {
  description = "Generation of the active pseudonym HMAC key."
  value       = module.tributary.hmac_key_version
}

output "glue_database" {
  description = "Glue Data Catalog database for the marts."
  value       = module.tributary.glue_database
}

output "athena_workgroup" {
  description = "Athena workgroup (results encrypted in the marts bucket)."
  value       = module.tributary.athena_workgroup
}

output "ingest_topic_arn" {
  description = "SNS topic ingest and triage publish to."
  value       = module.tributary.ingest_topic_arn
}

output "etl_queue_arn" {
  description = "SQS queue that triggers the etl function."
  value       = module.tributary.etl_queue_arn
}

output "etl_dlq_arn" {
  description = "Dead-letter queue of the ETL queue."
  value       = module.tributary.etl_dlq_arn
}

output "versions_table" {
  description = "DynamoDB FHIR version index table name."
  value       = module.tributary.versions_table
}

output "versions_table_arn" {
  description = "DynamoDB FHIR version index table ARN."
  value       = module.tributary.versions_table_arn
}

output "ingest_role_arn" {
  description = "Execution role of the ingest function."
  value       = module.tributary.ingest_role_arn
}

output "etl_role_arn" {
  description = "Execution role of the etl function."
  value       = module.tributary.etl_role_arn
}

output "metadata_role_arn" {
  description = "Execution role of the metadata function."
  value       = module.tributary.metadata_role_arn
}

output "validate_role_arn" {
  description = "Execution role of the validate function."
  value       = module.tributary.validate_role_arn
}

output "not_allowed_role_arn" {
  description = "Execution role of the notAllowed function."
  value       = module.tributary.not_allowed_role_arn
}

output "authorizer_role_arn" {
  description = "Execution role of the authorizer function."
  value       = module.tributary.authorizer_role_arn
}

output "triage_role_arn" {
  description = "Execution role of the triage function."
  value       = module.tributary.triage_role_arn
}

output "reidentify_role_arn" {
  description = "Execution role of the reidentify function (the only identity store reader)."
  value       = module.tributary.reidentify_role_arn
}

output "oidc_issuer" {
  description = "OIDC issuer the authorizer trusts."
  value       = module.tributary.oidc_issuer
}

output "oidc_audience" {
  description = "Expected JWT audience."
  value       = module.tributary.oidc_audience
}

output "api_endpoint_type" {
  description = "API Gateway endpoint type serverless.yml deploys: PRIVATE when private_api, else REGIONAL."
  value       = module.tributary.api_endpoint_type
}

output "api_vpc_endpoint_id" {
  description = "execute-api VPC endpoint id (null unless private_api)."
  value       = module.tributary.api_vpc_endpoint_id
}

output "log_group_names" {
  description = "CloudWatch log group per function."
  value       = module.tributary.log_group_names
}

output "ssm_parameter_names" {
  description = "SSM parameter name per configuration value."
  value       = module.tributary.ssm_parameter_names
}

output "ssm_prefix" {
  description = "SSM path prefix serverless.yml reads from."
  value       = module.tributary.ssm_prefix
}

output "api_access_log_group" {
  description = "CloudWatch log group of the REST API's access logs."
  value       = module.tributary.api_access_log_group
}

output "console_url" {
  description = "The operations console (CloudFront)."
  value       = module.tributary.console_url
}

output "console_bucket" {
  description = "Bucket of the console's static assets."
  value       = module.tributary.console_bucket
}
