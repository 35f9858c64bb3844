data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"

  # Resource name prefix, e.g. tributary-dev.
  prefix = "${var.service_name}-${var.environment}"

  # Bucket names must be globally unique: suffix them with the account id.
  bucket_suffix = "${local.account_id}-${local.region}"

  # Every Lambda function, one log group (logs.tf) and one role (local.function_roles, iam.tf) each;
  # serverless.yml must use these keys (names are <service>-<stage>-<key>), and
  # test/unit/serverless-functions.test.ts checks that it declares no other.
  functions = toset(["ingest", "metadata", "validate", "notAllowed", "authorizer", "etl", "triage", "reidentify", "analysis", "recovery", "ops", "importPlan", "importChunk", "importFinish"])

  # SSM path every serverless.yml lookup reads from: /tributary/<stage>/<name>.
  ssm_prefix = "/${var.service_name}/${var.environment}"
}
