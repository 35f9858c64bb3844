# Remote state in S3 with a DynamoDB lock table, as a partial configuration: the bucket, key, region,
# lock table and KMS key come from env/<environment>.backend.hcl, e.g.
#
#   terraform -chdir=terraform init -backend-config=env/dev.backend.hcl
#
# Create the state bucket and lock table once per account with terraform/bootstrap (see docs/deploy.md).
terraform {
  backend "s3" {}
}
