# Tributary shared infrastructure for one environment. Run inside the workspace named after the
# environment, with its variable file:
#
#   terraform workspace select -or-create dev
#   terraform plan -var-file=env/dev.tfvars

data "aws_caller_identity" "current" {
  lifecycle {
    precondition {
      condition     = terraform.workspace == var.environment
      error_message = "Select the workspace named after the environment (terraform workspace select ${var.environment}) before planning with its tfvars."
    }
  }
}

module "tributary" {
  source = "./modules/tributary"

  environment   = var.environment
  oidc_issuer   = var.oidc_issuer
  oidc_audience = var.oidc_audience

  log_retention_days             = var.log_retention_days
  audit_retention_days           = var.audit_retention_days
  lake_noncurrent_version_days   = var.lake_noncurrent_version_days
  triage_expiration_days         = var.triage_expiration_days
  import_expiration_days         = var.import_expiration_days
  athena_results_expiration_days = var.athena_results_expiration_days
  etl_max_receive_count          = var.etl_max_receive_count
  console_api_domain             = var.console_api_domain
  console_api_stage_path         = var.console_api_stage_path
  etl_visibility_timeout_seconds = var.etl_visibility_timeout_seconds
  etl_raw_message_delivery       = var.etl_raw_message_delivery
  kms_deletion_window_days       = var.kms_deletion_window_days
  force_destroy                  = var.force_destroy
  dynamodb_deletion_protection   = var.dynamodb_deletion_protection

  hmac_key_versions                  = var.hmac_key_versions
  hmac_active_key_version            = var.hmac_active_key_version
  reidentify_operator_principal_arns = var.reidentify_operator_principal_arns
  permissions_boundary_arn           = var.permissions_boundary_arn

  manage_api_gateway_account = var.manage_api_gateway_account

  analysis_studies              = var.analysis_studies
  analyst_principal_arns        = var.analyst_principal_arns
  analysis_bytes_scanned_cutoff = var.analysis_bytes_scanned_cutoff

  private_api               = var.private_api
  vpc_id                    = var.vpc_id
  subnet_ids                = var.subnet_ids
  private_api_allowed_cidrs = var.private_api_allowed_cidrs
}
