variable "environment" {
  description = "Deployment stage (dev, staging, prod). Also the Serverless stage and the SSM path segment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters/digits, starting with a letter."
  }
}

variable "service_name" {
  description = "Serverless service name. Lambda functions are named <service>-<stage>-<function> (Serverless default)."
  type        = string
  default     = "tributary"
}

variable "oidc_issuer" {
  description = "OIDC issuer URL whose JWKS the authorizer trusts (published to SSM for serverless.yml)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.oidc_issuer))
    error_message = "oidc_issuer must be an https:// URL."
  }
}

variable "oidc_audience" {
  description = "Expected JWT audience (aud claim) for API callers."
  type        = string

  validation {
    condition     = length(var.oidc_audience) > 0
    error_message = "oidc_audience must not be empty."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for every function log group and the API access log group."
  type        = number
  default     = 365
}

variable "audit_retention_days" {
  description = "Object Lock COMPLIANCE retention (days) for audit records. Cannot be shortened or removed once objects are written, not even by the root user."
  type        = number
  default     = 2922

  validation {
    condition     = var.audit_retention_days >= 1
    error_message = "audit_retention_days must be at least 1."
  }
}

variable "lake_noncurrent_version_days" {
  description = "Days a superseded (noncurrent) object version is kept in the raw lake, marts and identity buckets."
  type        = number
  default     = 90
}

variable "lake_intelligent_tiering_days" {
  description = "Days after which raw lake objects move to S3 Intelligent-Tiering."
  type        = number
  default     = 30
}

variable "triage_expiration_days" {
  description = "Days a triage object is kept before it expires (unresolved items should be rechecked well before)."
  type        = number
  default     = 30
}

variable "import_expiration_days" {
  description = "Days an object of the import bucket (bulk import inputs, job state, error outputs) is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.import_expiration_days >= 1
    error_message = "import_expiration_days must be at least 1."
  }
}

variable "athena_results_expiration_days" {
  description = "Days Athena query results are kept in the marts bucket (athena-results/ prefix)."
  type        = number
  default     = 30
}

variable "etl_max_receive_count" {
  description = "Receives before an ETL message is moved to the dead-letter queue."
  type        = number
  default     = 5
}

variable "etl_visibility_timeout_seconds" {
  description = "ETL queue visibility timeout; keep it at least 6x the etl function timeout."
  type        = number
  default     = 900
}

variable "etl_raw_message_delivery" {
  description = "SNS raw message delivery to the ETL queue: the SQS body is the event JSON (true) or the SNS envelope (false)."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion takes effect."
  type        = number
  default     = 30
}

variable "hmac_key_versions" {
  description = "Generations of the pseudonym HMAC key that exist. HMAC keys cannot rotate automatically: add a generation, switch hmac_active_key_version, and keep old generations until every pseudonym has been re-keyed."
  type        = list(string)
  default     = ["v1"]

  validation {
    condition     = length(var.hmac_key_versions) > 0 && alltrue([for v in var.hmac_key_versions : can(regex("^v[0-9]+$", v))])
    error_message = "hmac_key_versions must be a non-empty list like [\"v1\", \"v2\"]."
  }
}

variable "hmac_active_key_version" {
  description = "The HMAC key generation new pseudonyms are made with (the alias points at it; the app records it with each pseudonym)."
  type        = string
  default     = "v1"
}

variable "reidentify_operator_principal_arns" {
  description = "IAM principals (e.g. an operator SSO role) allowed to assume the reidentify role, with MFA. Empty = only Lambda can assume it."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary attached to every function role and the API Gateway CloudWatch role."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow terraform destroy to empty data buckets. Keep false outside throwaway environments. Never applies to locked audit objects."
  type        = bool
  default     = false
}

variable "dynamodb_deletion_protection" {
  description = "Deletion protection on the versions table."
  type        = bool
  default     = true
}

variable "manage_api_gateway_account" {
  description = "Set the account-level API Gateway CloudWatch Logs role (aws_api_gateway_account) to a Terraform role that can write Tributary's access logs. One environment per account and region only; false where another environment or the landing zone sets it."
  type        = bool
  default     = true
}

variable "private_api" {
  description = "Create an execute-api interface VPC endpoint for a PRIVATE API Gateway endpoint type."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "VPC for the execute-api endpoint (required when private_api = true)."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Subnets for the execute-api endpoint (required when private_api = true)."
  type        = list(string)
  default     = []
}

variable "private_api_allowed_cidrs" {
  description = "CIDR blocks allowed to reach the execute-api endpoint on 443."
  type        = list(string)
  default     = []
}

variable "console_api_domain" {
  description = "Domain of the REST API (abc123.execute-api.<region>.amazonaws.com) CloudFront routes /ops/* to; empty until serverless deploy has created it."
  type        = string
  default     = ""
}

variable "console_api_stage_path" {
  description = "Stage path of the REST API behind CloudFront's /ops/* behaviour (\"/<stage>\")."
  type        = string
  default     = ""
}
