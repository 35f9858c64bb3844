# Everything serverless.yml needs, as String parameters under /tributary/<stage>/<name>
# (read there as ${ssm:/tributary/${sls:stage}/<name>}). No secrets: names, ARNs and URLs only.
# api_endpoint_type is the REST API's provider.endpointType: PRIVATE (reachable only through the execute-api
# VPC endpoint of network.tf) when private_api is true, else REGIONAL.

locals {
  ssm_core = {
    lake_bucket          = aws_s3_bucket.this["lake"].bucket
    marts_bucket         = aws_s3_bucket.this["marts"].bucket
    identity_bucket      = aws_s3_bucket.this["identity"].bucket
    triage_bucket        = aws_s3_bucket.this["triage"].bucket
    audit_bucket         = aws_s3_bucket.this["audit"].bucket
    lake_kms_key_arn     = aws_kms_key.this["lake"].arn
    marts_kms_key_arn    = aws_kms_key.this["marts"].arn
    identity_kms_key_arn = aws_kms_key.this["identity"].arn
    audit_kms_key_arn    = aws_kms_key.this["audit"].arn
    triage_kms_key_arn   = aws_kms_key.this["triage"].arn
    hmac_kms_key_arn     = aws_kms_key.hmac[var.hmac_active_key_version].arn
    hmac_kms_alias_arn   = aws_kms_alias.hmac.arn
    hmac_key_version     = var.hmac_active_key_version
    glue_database        = aws_glue_catalog_database.lake.name
    athena_workgroup     = aws_athena_workgroup.analytics.name
    ingest_topic_arn     = aws_sns_topic.ingest.arn
    etl_queue_arn        = aws_sqs_queue.etl.arn
    etl_dlq_arn          = aws_sqs_queue.etl_dlq.arn
    versions_table       = aws_dynamodb_table.versions.name
    ingest_role_arn      = aws_iam_role.function["ingest"].arn
    etl_role_arn         = aws_iam_role.function["etl"].arn
    metadata_role_arn    = aws_iam_role.function["metadata"].arn
    validate_role_arn    = aws_iam_role.function["validate"].arn
    not_allowed_role_arn = aws_iam_role.function["notAllowed"].arn
    authorizer_role_arn  = aws_iam_role.function["authorizer"].arn
    triage_role_arn      = aws_iam_role.function["triage"].arn
    reidentify_role_arn  = aws_iam_role.function["reidentify"].arn
    analysis_role_arn    = aws_iam_role.function["analysis"].arn
    recovery_role_arn    = aws_iam_role.function["recovery"].arn
    ops_role_arn         = aws_iam_role.function["ops"].arn
    jobs_table           = aws_dynamodb_table.jobs.name
    console_bucket       = aws_s3_bucket.console.bucket
    study_kms_key_arn    = aws_kms_key.this["study"].arn
    oidc_issuer          = var.oidc_issuer
    oidc_audience        = var.oidc_audience
    api_endpoint_type    = var.private_api ? "PRIVATE" : "REGIONAL"

    # Bulk import (import.tf): the import bucket and its key, the roles of the three steps, the state machine.
    import_bucket            = aws_s3_bucket.this["import"].bucket
    import_kms_key_arn       = aws_kms_key.this["import"].arn
    import_plan_role_arn     = aws_iam_role.function["importPlan"].arn
    import_chunk_role_arn    = aws_iam_role.function["importChunk"].arn
    import_finish_role_arn   = aws_iam_role.function["importFinish"].arn
    import_state_machine_arn = aws_sfn_state_machine.import.arn
  }
}

resource "aws_ssm_parameter" "config" {
  for_each = local.ssm_core

  name        = "${local.ssm_prefix}/${each.key}"
  description = "Tributary ${var.environment} ${each.key} (managed by Terraform)"
  type        = "String"
  value       = each.value
}

# The execute-api VPC endpoint ids of a PRIVATE API, as a StringList so that serverless.yml reads a list
# (provider.vpcEndpointIds and the aws:SourceVpce condition of the API's resource policy). Only present when
# private_api is true, since SSM values cannot be empty; config/aws.yml then falls back to null.
resource "aws_ssm_parameter" "api_vpc_endpoint_ids" {
  count = var.private_api ? 1 : 0

  name        = "${local.ssm_prefix}/api_vpc_endpoint_ids"
  description = "Tributary ${var.environment} api_vpc_endpoint_ids (managed by Terraform)"
  type        = "StringList"
  value       = join(",", aws_vpc_endpoint.execute_api[*].id)
}
