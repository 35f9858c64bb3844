# State moves from the per-resource blocks this module had before its buckets, KMS keys, function roles and
# service log groups came from maps (for_each). Terraform applies them on the next plan, so an existing deployment keeps every bucket,
# key and role (no destroy and re-create); they change nothing for a new one. Keep them: removing a moved block
# before every environment has applied it would plan the destruction of the old address. Moved blocks cannot
# loop, so every address is listed. test/unit/terraform-moves.test.ts checks that they cover every former address.

################################################################################
# S3 buckets (s3.tf)
################################################################################

moved {
  from = aws_s3_bucket.lake
  to   = aws_s3_bucket.this["lake"]
}

moved {
  from = aws_s3_bucket_ownership_controls.lake
  to   = aws_s3_bucket_ownership_controls.this["lake"]
}

moved {
  from = aws_s3_bucket_public_access_block.lake
  to   = aws_s3_bucket_public_access_block.this["lake"]
}

moved {
  from = aws_s3_bucket_versioning.lake
  to   = aws_s3_bucket_versioning.this["lake"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.lake
  to   = aws_s3_bucket_server_side_encryption_configuration.this["lake"]
}

moved {
  from = aws_s3_bucket_policy.lake
  to   = aws_s3_bucket_policy.this["lake"]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.lake
  to   = aws_s3_bucket_lifecycle_configuration.this["lake"]
}

moved {
  from = aws_s3_bucket.marts
  to   = aws_s3_bucket.this["marts"]
}

moved {
  from = aws_s3_bucket_ownership_controls.marts
  to   = aws_s3_bucket_ownership_controls.this["marts"]
}

moved {
  from = aws_s3_bucket_public_access_block.marts
  to   = aws_s3_bucket_public_access_block.this["marts"]
}

moved {
  from = aws_s3_bucket_versioning.marts
  to   = aws_s3_bucket_versioning.this["marts"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.marts
  to   = aws_s3_bucket_server_side_encryption_configuration.this["marts"]
}

moved {
  from = aws_s3_bucket_policy.marts
  to   = aws_s3_bucket_policy.this["marts"]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.marts
  to   = aws_s3_bucket_lifecycle_configuration.this["marts"]
}

moved {
  from = aws_s3_bucket.identity
  to   = aws_s3_bucket.this["identity"]
}

moved {
  from = aws_s3_bucket_ownership_controls.identity
  to   = aws_s3_bucket_ownership_controls.this["identity"]
}

moved {
  from = aws_s3_bucket_public_access_block.identity
  to   = aws_s3_bucket_public_access_block.this["identity"]
}

moved {
  from = aws_s3_bucket_versioning.identity
  to   = aws_s3_bucket_versioning.this["identity"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.identity
  to   = aws_s3_bucket_server_side_encryption_configuration.this["identity"]
}

moved {
  from = aws_s3_bucket_policy.identity
  to   = aws_s3_bucket_policy.this["identity"]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.identity
  to   = aws_s3_bucket_lifecycle_configuration.this["identity"]
}

moved {
  from = aws_s3_bucket.triage
  to   = aws_s3_bucket.this["triage"]
}

moved {
  from = aws_s3_bucket_ownership_controls.triage
  to   = aws_s3_bucket_ownership_controls.this["triage"]
}

moved {
  from = aws_s3_bucket_public_access_block.triage
  to   = aws_s3_bucket_public_access_block.this["triage"]
}

moved {
  from = aws_s3_bucket_versioning.triage
  to   = aws_s3_bucket_versioning.this["triage"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.triage
  to   = aws_s3_bucket_server_side_encryption_configuration.this["triage"]
}

moved {
  from = aws_s3_bucket_policy.triage
  to   = aws_s3_bucket_policy.this["triage"]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.triage
  to   = aws_s3_bucket_lifecycle_configuration.this["triage"]
}

moved {
  from = aws_s3_bucket.audit
  to   = aws_s3_bucket.this["audit"]
}

moved {
  from = aws_s3_bucket_ownership_controls.audit
  to   = aws_s3_bucket_ownership_controls.this["audit"]
}

moved {
  from = aws_s3_bucket_public_access_block.audit
  to   = aws_s3_bucket_public_access_block.this["audit"]
}

moved {
  from = aws_s3_bucket_versioning.audit
  to   = aws_s3_bucket_versioning.this["audit"]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.audit
  to   = aws_s3_bucket_server_side_encryption_configuration.this["audit"]
}

moved {
  from = aws_s3_bucket_policy.audit
  to   = aws_s3_bucket_policy.this["audit"]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.audit
  to   = aws_s3_bucket_lifecycle_configuration.this["audit"]
}

moved {
  from = aws_s3_bucket_object_lock_configuration.audit
  to   = aws_s3_bucket_object_lock_configuration.this["audit"]
}

################################################################################
# KMS keys and aliases (kms.tf)
################################################################################

moved {
  from = aws_kms_key.lake
  to   = aws_kms_key.this["lake"]
}

moved {
  from = aws_kms_alias.lake
  to   = aws_kms_alias.this["lake"]
}

moved {
  from = aws_kms_key.marts
  to   = aws_kms_key.this["marts"]
}

moved {
  from = aws_kms_alias.marts
  to   = aws_kms_alias.this["marts"]
}

moved {
  from = aws_kms_key.triage
  to   = aws_kms_key.this["triage"]
}

moved {
  from = aws_kms_alias.triage
  to   = aws_kms_alias.this["triage"]
}

moved {
  from = aws_kms_key.audit
  to   = aws_kms_key.this["audit"]
}

moved {
  from = aws_kms_alias.audit
  to   = aws_kms_alias.this["audit"]
}

moved {
  from = aws_kms_key.versions
  to   = aws_kms_key.this["versions"]
}

moved {
  from = aws_kms_alias.versions
  to   = aws_kms_alias.this["versions"]
}

moved {
  from = aws_kms_key.identity
  to   = aws_kms_key.this["identity"]
}

moved {
  from = aws_kms_alias.identity
  to   = aws_kms_alias.this["identity"]
}

moved {
  from = aws_kms_key.logs
  to   = aws_kms_key.this["logs"]
}

moved {
  from = aws_kms_alias.logs
  to   = aws_kms_alias.this["logs"]
}

moved {
  from = aws_kms_key.messaging
  to   = aws_kms_key.this["messaging"]
}

moved {
  from = aws_kms_alias.messaging
  to   = aws_kms_alias.this["messaging"]
}

################################################################################
# Function roles and their policies (iam.tf)
################################################################################

moved {
  from = aws_iam_role.ingest
  to   = aws_iam_role.function["ingest"]
}

moved {
  from = aws_iam_role_policy.ingest
  to   = aws_iam_role_policy.function["ingest"]
}

moved {
  from = aws_iam_role.triage
  to   = aws_iam_role.function["triage"]
}

moved {
  from = aws_iam_role_policy.triage
  to   = aws_iam_role_policy.function["triage"]
}

moved {
  from = aws_iam_role.etl
  to   = aws_iam_role.function["etl"]
}

moved {
  from = aws_iam_role_policy.etl
  to   = aws_iam_role_policy.function["etl"]
}

moved {
  from = aws_iam_role.metadata
  to   = aws_iam_role.function["metadata"]
}

moved {
  from = aws_iam_role_policy.metadata
  to   = aws_iam_role_policy.function["metadata"]
}

moved {
  from = aws_iam_role.validate
  to   = aws_iam_role.function["validate"]
}

moved {
  from = aws_iam_role_policy.validate
  to   = aws_iam_role_policy.function["validate"]
}

moved {
  from = aws_iam_role.not_allowed
  to   = aws_iam_role.function["notAllowed"]
}

moved {
  from = aws_iam_role_policy.not_allowed
  to   = aws_iam_role_policy.function["notAllowed"]
}

moved {
  from = aws_iam_role.authorizer
  to   = aws_iam_role.function["authorizer"]
}

moved {
  from = aws_iam_role_policy.authorizer
  to   = aws_iam_role_policy.function["authorizer"]
}

moved {
  from = aws_iam_role.reidentify
  to   = aws_iam_role.function["reidentify"]
}

moved {
  from = aws_iam_role_policy.reidentify
  to   = aws_iam_role_policy.function["reidentify"]
}

moved {
  from = aws_iam_role_policy.metadata_audit
  to   = aws_iam_role_policy.audit_append["metadata"]
}

moved {
  from = aws_iam_role_policy.validate_audit
  to   = aws_iam_role_policy.audit_append["validate"]
}

moved {
  from = aws_iam_role_policy.not_allowed_audit
  to   = aws_iam_role_policy.audit_append["notAllowed"]
}

moved {
  from = aws_iam_role_policy.authorizer_audit
  to   = aws_iam_role_policy.audit_append["authorizer"]
}

################################################################################
# Service log groups (logs.tf)
################################################################################

moved {
  from = aws_cloudwatch_log_group.api_access
  to   = aws_cloudwatch_log_group.service["api_access"]
}
