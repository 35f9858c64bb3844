# Partial S3 backend configuration for staging: terraform -chdir=terraform init -backend-config=env/staging.backend.hcl
# The bucket, lock table and KMS key are created by terraform/bootstrap: replace ACCOUNT_ID and KEY_ID
# with its outputs state_bucket and state_kms_key_arn for the staging account.
bucket         = "tributary-tfstate-ACCOUNT_ID-eu-west-2"
key            = "tributary/terraform.tfstate"
region         = "eu-west-2"
dynamodb_table = "tributary-tfstate-lock"
encrypt        = true
kms_key_id     = "arn:aws:kms:eu-west-2:ACCOUNT_ID:key/KEY_ID"
