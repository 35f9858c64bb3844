# Production. Replace the placeholders before the first plan; set allowed_account_ids.
environment = "prod"
aws_region  = "eu-west-2"
# allowed_account_ids = ["333333333333"]

oidc_issuer   = "https://login.example.nhs.uk/"
oidc_audience = "tributary"

log_retention_days           = 400
audit_retention_days         = 2922
lake_noncurrent_version_days = 90
triage_expiration_days       = 30

# Operators who may assume the reidentify role (MFA required), e.g. an SSO permission-set role.
reidentify_operator_principal_arns = []

# Private API (execute-api VPC endpoint): set to true with the network ids.
private_api               = false
vpc_id                    = null
subnet_ids                = []
private_api_allowed_cidrs = []

tags = {
  DataClassification = "official-sensitive-personal"
}
