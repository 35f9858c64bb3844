# Staging: production-like settings with shorter retention. Replace the placeholders before the first plan.
environment = "staging"
aws_region  = "eu-west-2"
# allowed_account_ids = ["222222222222"]

oidc_issuer   = "https://login.staging.example.nhs.uk/"
oidc_audience = "tributary-staging"

log_retention_days           = 90
audit_retention_days         = 90
lake_noncurrent_version_days = 30
triage_expiration_days       = 30

tags = {
  DataClassification = "test-data"
}
