# Data buckets, one instance per entry of local.buckets. Every one: SSE-KMS under its own customer managed
# key (aws_kms_key.this[<bucket>], kms.tf), all public access blocked, bucket-owner-enforced ownership,
# versioning, a TLS-only bucket policy and lifecycle rules. These are not per-bucket options: a new entry gets
# them all. What differs between buckets is in the map.
# No access-logs bucket: S3 server access logs cannot be delivered to an SSE-KMS bucket; use CloudTrail
# S3 data events (organisation trail) for object-level access records instead.
#
# The buckets hold health data: renaming a key of local.buckets (a state address), or changing a bucket's name
# or object_lock_enabled (both force a new bucket), would plan to destroy the bucket. The moved blocks in
# moved.tf carry the state of the former per-bucket resources (aws_s3_bucket.lake, ...) to these instances.

locals {
  # Per bucket: name (<prefix>-<name>-<account>-<region>), S3 Bucket Key, force_destroy, Object Lock, and
  # the lifecycle rules in order. Each rule lists its optional blocks as lists of zero or one element. Nothing
  # here may reference a resource: the buckets depend on their settings only.
  buckets = {
    # Raw lake: pseudonymised FHIR, written by ingest and triage, read by etl.
    lake = {
      name                       = "raw-lake"
      bucket_key_enabled         = true
      force_destroy              = var.force_destroy
      object_lock_enabled        = null
      object_lock_retention_days = null
      lifecycle_rules = [
        # The expiration removes the delete markers left by ingest's staging copies once their old versions
        # have expired.
        {
          id                                = "intelligent-tiering"
          prefix                            = null
          transition                        = [{ days = var.lake_intelligent_tiering_days, storage_class = "INTELLIGENT_TIERING" }]
          noncurrent_version_expiration     = [{ noncurrent_days = var.lake_noncurrent_version_days }]
          expiration                        = [{ days = null, expired_object_delete_marker = true }]
          abort_incomplete_multipart_upload = [{ days_after_initiation = 7 }]
        },
      ]
    }

    # Marts: ETL output, and Athena results under athena-results/.
    marts = {
      name                       = "marts"
      bucket_key_enabled         = true
      force_destroy              = var.force_destroy
      object_lock_enabled        = null
      object_lock_retention_days = null
      lifecycle_rules = [
        {
          id                                = "athena-results"
          prefix                            = "athena-results/"
          transition                        = []
          noncurrent_version_expiration     = [{ noncurrent_days = 1 }]
          expiration                        = [{ days = var.athena_results_expiration_days, expired_object_delete_marker = null }]
          abort_incomplete_multipart_upload = []
        },
        {
          id                                = "noncurrent-versions"
          prefix                            = null
          transition                        = []
          noncurrent_version_expiration     = [{ noncurrent_days = var.lake_noncurrent_version_days }]
          expiration                        = []
          abort_incomplete_multipart_upload = [{ days_after_initiation = 7 }]
        },
      ]
    }

    # Identity store: identifiers moved out of the lake; envelope-encrypted records.
    identity = {
      name = "identity"
      # Deliberately no S3 Bucket Key here: every object write and read is its own KMS call, so CloudTrail
      # records each decrypt by the reidentify role per object, and the write-only roles (GenerateDataKey,
      # never Decrypt) need nothing beyond the documented single-PUT permissions. Volume is low.
      bucket_key_enabled         = false
      force_destroy              = var.force_destroy
      object_lock_enabled        = null
      object_lock_retention_days = null
      lifecycle_rules = [
        {
          id                                = "superseded-identity-records"
          prefix                            = null
          transition                        = []
          noncurrent_version_expiration     = [{ noncurrent_days = var.lake_noncurrent_version_days }]
          expiration                        = []
          abort_incomplete_multipart_upload = [{ days_after_initiation = 1 }]
        },
      ]
    }

    # Triage: submissions held for recheck.
    triage = {
      name                       = "triage"
      bucket_key_enabled         = true
      force_destroy              = var.force_destroy
      object_lock_enabled        = null
      object_lock_retention_days = null
      lifecycle_rules = [
        {
          id                                = "expire-triage"
          prefix                            = null
          transition                        = []
          noncurrent_version_expiration     = [{ noncurrent_days = 7 }]
          expiration                        = [{ days = var.triage_expiration_days, expired_object_delete_marker = null }]
          abort_incomplete_multipart_upload = [{ days_after_initiation = 1 }]
        },
      ]
    }

    # Bulk import (docs/import.md, import.tf): the inputs of $import jobs under inputs/ (FHIR as sent, before the
    # write path pseudonymises it), and each job's state under import-jobs/{id}/ (job.json, chunk records, the
    # chunk plans the state machine's Distributed Map reads, the start marker EventBridge turns into an execution,
    # the error output). Nothing here is kept: every object expires after var.import_expiration_days.
    import = {
      name                       = "import"
      bucket_key_enabled         = true
      force_destroy              = var.force_destroy
      object_lock_enabled        = null
      object_lock_retention_days = null
      lifecycle_rules = [
        {
          id                                = "expire-imports"
          prefix                            = null
          transition                        = []
          noncurrent_version_expiration     = [{ noncurrent_days = 1 }]
          expiration                        = [{ days = var.import_expiration_days, expired_object_delete_marker = null }]
          abort_incomplete_multipart_upload = [{ days_after_initiation = 1 }]
        },
      ]
    }

    # Audit trail: append-only, Object Lock in COMPLIANCE mode.
    audit = {
      name               = "audit"
      bucket_key_enabled = true
      # Locked objects cannot be deleted, so force_destroy would only fail half way.
      force_destroy              = false
      object_lock_enabled        = true
      object_lock_retention_days = var.audit_retention_days
      lifecycle_rules = [
        {
          id                                = "archive-audit"
          prefix                            = null
          transition                        = [{ days = 90, storage_class = "GLACIER_IR" }]
          noncurrent_version_expiration     = []
          expiration                        = []
          abort_incomplete_multipart_upload = [{ days_after_initiation = 1 }]
        },
      ]
    }
  }

  # Deny statements some bucket policies add to the TLS-only pair, on the bucket's objects: everyone is denied
  # the actions unless the condition holds.
  bucket_object_denies = {
    identity = [
      # Belt and braces with the key policy: nobody but the reidentify role reads identity records.
      {
        sid      = "DenyReadsToAllButReidentify"
        actions  = ["s3:GetObject", "s3:GetObjectVersion"]
        test     = "StringNotEquals"
        variable = "aws:PrincipalArn"
        values   = [aws_iam_role.function["reidentify"].arn]
      },
      # Identity records must be encrypted under the identity key, never another key.
      {
        sid      = "DenyOtherKmsKeys"
        actions  = ["s3:PutObject"]
        test     = "StringNotEqualsIfExists"
        variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        values   = [aws_kms_key.this["identity"].arn]
      },
    ]
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket        = "${local.prefix}-${each.value.name}-${local.bucket_suffix}"
  force_destroy = each.value.force_destroy
  # null (unset) except on the audit bucket, as before: the attribute forces a new bucket when it changes.
  object_lock_enabled = each.value.object_lock_enabled
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "this" {
  for_each = { for name, bucket in local.buckets : name => bucket if bucket.object_lock_enabled == true }

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = each.value.object_lock_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    bucket_key_enabled = each.value.bucket_key_enabled

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this[each.key].arn
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOldTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  dynamic "statement" {
    for_each = lookup(local.bucket_object_denies, each.key, [])

    content {
      sid       = statement.value.sid
      effect    = "Deny"
      actions   = statement.value.actions
      resources = ["${aws_s3_bucket.this[each.key].arn}/*"]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = statement.value.test
        variable = statement.value.variable
        values   = statement.value.values
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  dynamic "rule" {
    for_each = each.value.lifecycle_rules

    content {
      id     = rule.value.id
      status = "Enabled"

      # Every rule has a filter: an empty one (whole bucket) when prefix is null.
      filter {
        prefix = rule.value.prefix
      }

      dynamic "transition" {
        for_each = rule.value.transition

        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }

      dynamic "noncurrent_version_expiration" {
        for_each = rule.value.noncurrent_version_expiration

        content {
          noncurrent_days = noncurrent_version_expiration.value.noncurrent_days
        }
      }

      dynamic "expiration" {
        for_each = rule.value.expiration

        content {
          days                         = expiration.value.days
          expired_object_delete_marker = expiration.value.expired_object_delete_marker
        }
      }

      dynamic "abort_incomplete_multipart_upload" {
        for_each = rule.value.abort_incomplete_multipart_upload

        content {
          days_after_initiation = abort_incomplete_multipart_upload.value.days_after_initiation
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}
