variable "aws_region" {
  description = "AWS region (UK data residency: eu-west-2, London)."
  type        = string
  default     = "eu-west-2"
}

variable "allowed_account_ids" {
  description = "Account ids this environment may be applied to (the provider refuses any other). null = no check."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "dev, staging or prod. Must match the selected Terraform workspace and the Serverless stage."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "tags" {
  description = "Extra tags for every resource (e.g. cost centre, data classification)."
  type        = map(string)
  default     = {}
}

variable "oidc_issuer" {
  description = "OIDC issuer URL whose JWKS the API authorizer trusts."
  type        = string
}

variable "oidc_audience" {
  description = "Expected JWT audience (aud claim)."
  type        = string
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for function log groups and the API access log group."
  type        = number
  default     = 365
}

variable "audit_retention_days" {
  description = "Object Lock COMPLIANCE retention for audit records (irreversible once objects exist)."
  type        = number
  default     = 2922
}

variable "lake_noncurrent_version_days" {
  description = "Days superseded object versions are kept in the lake, marts and identity buckets."
  type        = number
  default     = 90
}

variable "triage_expiration_days" {
  description = "Days triage objects are kept."
  type        = number
  default     = 30
}

variable "import_expiration_days" {
  description = "Days bulk import inputs, job state and error outputs are kept."
  type        = number
  default     = 30
}

variable "athena_results_expiration_days" {
  description = "Days Athena results are kept."
  type        = number
  default     = 30
}

variable "etl_max_receive_count" {
  description = "ETL queue receives before a message goes to the DLQ."
  type        = number
  default     = 5
}

variable "etl_visibility_timeout_seconds" {
  description = "ETL queue visibility timeout (at least 6x the etl function timeout)."
  type        = number
  default     = 900
}

variable "etl_raw_message_delivery" {
  description = "SNS raw message delivery to the ETL queue."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "KMS key deletion waiting period."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy empty data buckets (throwaway environments only)."
  type        = bool
  default     = false
}

variable "dynamodb_deletion_protection" {
  description = "Deletion protection on the versions table."
  type        = bool
  default     = true
}

variable "hmac_key_versions" {
  description = "Pseudonym HMAC key generations that exist (manual rotation, see docs/deploy.md)."
  type        = list(string)
  default     = ["v1"]
}

variable "hmac_active_key_version" {
  description = "HMAC key generation used for new pseudonyms."
  type        = string
  default     = "v1"
}

variable "reidentify_operator_principal_arns" {
  description = "Principals allowed to assume the reidentify role (with MFA)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the function roles and the API Gateway CloudWatch role."
  type        = string
  default     = null
}

variable "manage_api_gateway_account" {
  description = "Set the account-level API Gateway CloudWatch Logs role (aws_api_gateway_account) to a Terraform role that can write Tributary's access logs. One environment per account and region only; false where another environment or the landing zone sets it."
  type        = bool
  default     = true
}

variable "private_api" {
  description = "Create an execute-api VPC interface endpoint for a private API."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC for the execute-api endpoint (private_api only)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets for the execute-api endpoint (private_api only)."
  type        = list(string)
  default     = []
}

variable "private_api_allowed_cidrs" {
  description = "CIDRs allowed to reach the execute-api endpoint (private_api only)."
  type        = list(string)
  default     = []
}

# Safe analysis (docs/safe-analysis.md, terraform/modules/tributary/analysis.tf). null: the module's default (the
# study covid19-pht with the marts analyses/covid19.sql reads), kept in one place.
variable "analysis_studies" {
  description = "Studies of the safe-analysis path: per study, the marts its approved analyses read (one Athena workgroup each). null: the module's default."
  type = map(object({
    marts = list(string)
  }))
  default = null
}

variable "analyst_principal_arns" {
  description = "IAM principals (users or SSO roles) that may assume the analyst role (released outputs only), with MFA."
  type        = list(string)
  default     = []
}

variable "analysis_bytes_scanned_cutoff" {
  description = "Largest amount of data one analysis query may scan, bytes. null: the module's default (10 GiB)."
  type        = number
  default     = null
}

variable "console_api_domain" {
  description = "REST API domain CloudFront routes the console's /ops/* to (set after the first serverless deploy; docs/console.md)."
  type        = string
  default     = ""
}

variable "console_api_stage_path" {
  description = "Stage path of the REST API (\"/<stage>\") for the console's /ops/* behaviour."
  type        = string
  default     = ""
}
