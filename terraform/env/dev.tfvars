# Development: short retention, throwaway buckets. Replace the placeholders before the first plan.
environment = "dev"
aws_region  = "eu-west-2"
# allowed_account_ids = ["111111111111"]

oidc_issuer   = "https://login.dev.example.nhs.uk/"
oidc_audience = "tributary-dev"

log_retention_days           = 30
audit_retention_days         = 1
lake_noncurrent_version_days = 7
triage_expiration_days       = 14
force_destroy                = true
dynamodb_deletion_protection = false
kms_deletion_window_days     = 7

tags = {
  DataClassification = "synthetic-only"
}
