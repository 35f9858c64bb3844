# One execution role per function, each with only what that function does. Policies are attached as
# separate aws_iam_role_policy resources so the KMS key policies can name the roles without a cycle.
# No statement grants a service-wide wildcard (s3:*, kms:*, *), and every data-plane statement names
# its resources.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "reidentify_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = length(var.reidentify_operator_principal_arns) > 0 ? [1] : []

    content {
      sid     = "OperatorsWithMfa"
      effect  = "Allow"
      actions = ["sts:AssumeRole"]

      principals {
        type        = "AWS"
        identifiers = var.reidentify_operator_principal_arns
      }

      condition {
        test     = "Bool"
        variable = "aws:MultiFactorAuthPresent"
        values   = ["true"]
      }
    }
  }
}

resource "aws_iam_role" "ingest" {
  name                 = "${local.prefix}-ingest"
  description          = "Tributary ingest: validates, pseudonymises and lands FHIR."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "triage" {
  name                 = "${local.prefix}-triage"
  description          = "Tributary triage recheck: re-ingests held submissions."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "etl" {
  name                 = "${local.prefix}-etl"
  description          = "Tributary ETL: raw lake to marts. No identity store access."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "metadata" {
  name                 = "${local.prefix}-metadata"
  description          = "Tributary CapabilityStatement: its logs and audit append only."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "validate" {
  name                 = "${local.prefix}-validate"
  description          = "Tributary $validate (nothing stored): its logs and audit append only."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "not_allowed" {
  name                 = "${local.prefix}-not-allowed"
  description          = "Tributary refusals of unsupported methods and paths: its logs and audit append only."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "authorizer" {
  name                 = "${local.prefix}-authorizer"
  description          = "Tributary JWT authorizer: its logs and audit append only."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "reidentify" {
  name                 = "${local.prefix}-reidentify"
  description          = "Tributary re-identification: the only principal that can decrypt the identity store."
  assume_role_policy   = data.aws_iam_policy_document.reidentify_assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
}

################################################################################
# ingest
################################################################################

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["ingest"].arn}:*"]
  }

  # Ingest stages objects, copies them to their final keys and deletes the staging copies.
  statement {
    sid       = "RawLakeObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.lake.arn}/*"]
  }

  statement {
    sid       = "RawLakeList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
  }

  statement {
    sid       = "RawLakeKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.lake.arn]
  }

  statement {
    sid       = "TriageWrite"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.triage.arn}/*"]
  }

  statement {
    sid       = "TriageKeyEncrypt"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.triage.arn]
  }

  # Write-only: ingest can store identity records but can never read or decrypt them.
  statement {
    sid       = "IdentityStoreWriteOnly"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.identity.arn}/*"]
  }

  statement {
    sid       = "IdentityKeyEncryptOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.identity.arn]
  }

  statement {
    sid       = "Pseudonyms"
    effect    = "Allow"
    actions   = ["kms:GenerateMac"]
    resources = [for key in aws_kms_key.hmac : key.arn]
  }

  # TransactWriteItems is authorised per item action (Put/Update/Delete/ConditionCheck); Delete is the rollback.
  statement {
    sid       = "VersionIndex"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.versions.arn]
  }

  statement {
    sid       = "VersionIndexKey"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.versions.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "PublishEvents"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.ingest.arn]
  }

  statement {
    sid       = "EventsKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.messaging.arn]
  }

  # Hash-chained audit trail: conditional PutObject of the next record, after reading the chain head.
  # Object Lock (COMPLIANCE) makes every record immutable, so no delete or overwrite is possible.
  statement {
    sid       = "AuditAppend"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }

  statement {
    sid       = "AuditList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }

  statement {
    sid       = "AuditKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.audit.arn]
  }
}

resource "aws_iam_role_policy" "ingest" {
  name   = "ingest"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest.json
}

################################################################################
# triage (recheck): reads the triage bucket, then writes like ingest
################################################################################

data "aws_iam_policy_document" "triage" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["triage"].arn}:*"]
  }

  statement {
    sid       = "TriageObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.triage.arn}/*"]
  }

  statement {
    sid       = "TriageList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.triage.arn]
  }

  statement {
    sid       = "TriageKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.triage.arn]
  }

  # Ingest stages objects, copies them to their final keys and deletes the staging copies.
  statement {
    sid       = "RawLakeObjects"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.lake.arn}/*"]
  }

  statement {
    sid       = "RawLakeList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
  }

  statement {
    sid       = "RawLakeKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.lake.arn]
  }

  statement {
    sid       = "IdentityStoreWriteOnly"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.identity.arn}/*"]
  }

  statement {
    sid       = "IdentityKeyEncryptOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = [aws_kms_key.identity.arn]
  }

  statement {
    sid       = "Pseudonyms"
    effect    = "Allow"
    actions   = ["kms:GenerateMac"]
    resources = [for key in aws_kms_key.hmac : key.arn]
  }

  # TransactWriteItems is authorised per item action (Put/Update/Delete/ConditionCheck); Delete is the rollback.
  statement {
    sid       = "VersionIndex"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.versions.arn]
  }

  statement {
    sid       = "VersionIndexKey"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.versions.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "PublishEvents"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.ingest.arn]
  }

  statement {
    sid       = "EventsKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.messaging.arn]
  }

  # Hash-chained audit trail: conditional PutObject of the next record, after reading the chain head.
  # Object Lock (COMPLIANCE) makes every record immutable, so no delete or overwrite is possible.
  statement {
    sid       = "AuditAppend"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }

  statement {
    sid       = "AuditList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }

  statement {
    sid       = "AuditKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.audit.arn]
  }
}

resource "aws_iam_role_policy" "triage" {
  name   = "triage"
  role   = aws_iam_role.triage.id
  policy = data.aws_iam_policy_document.triage.json
}

################################################################################
# etl: raw lake -> marts + Glue catalog. Nothing about the identity store, by design.
################################################################################

data "aws_iam_policy_document" "etl" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["etl"].arn}:*"]
  }

  statement {
    sid       = "ConsumeQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.etl.arn]
  }

  statement {
    sid       = "QueueKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.messaging.arn]
  }

  statement {
    sid       = "RawLakeRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.lake.arn}/*"]
  }

  statement {
    sid       = "RawLakeList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.lake.arn]
  }

  statement {
    sid       = "RawLakeKeyDecrypt"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.lake.arn]
  }

  statement {
    sid       = "MartsObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${aws_s3_bucket.marts.arn}/*"]
  }

  statement {
    sid       = "MartsList"
    effect    = "Allow"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.marts.arn]
  }

  # Decrypt is needed as well as GenerateDataKey for multipart uploads of large mart files.
  statement {
    sid       = "MartsKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.marts.arn]
  }

  statement {
    sid    = "GlueCatalog"
    effect = "Allow"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
      "glue:CreatePartition",
      "glue:BatchCreatePartition",
      "glue:UpdatePartition",
    ]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.lake.name}",
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/*",
    ]
  }
}

resource "aws_iam_role_policy" "etl" {
  name   = "etl"
  role   = aws_iam_role.etl.id
  policy = data.aws_iam_policy_document.etl.json
}

################################################################################
# reidentify: the only reader of the identity store
################################################################################

data "aws_iam_policy_document" "reidentify" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["reidentify"].arn}:*"]
  }

  statement {
    sid       = "IdentityStoreRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.identity.arn}/*"]
  }

  statement {
    sid       = "IdentityStoreList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.identity.arn]
  }

  statement {
    sid       = "IdentityKeyDecrypt"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.identity.arn]
  }

  # Hash-chained audit trail: conditional PutObject of the next record, after reading the chain head.
  # Object Lock (COMPLIANCE) makes every record immutable, so no delete or overwrite is possible.
  statement {
    sid       = "AuditAppend"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }

  statement {
    sid       = "AuditList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }

  statement {
    sid       = "AuditKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.audit.arn]
  }
}

resource "aws_iam_role_policy" "reidentify" {
  name   = "reidentify"
  role   = aws_iam_role.reidentify.id
  policy = data.aws_iam_policy_document.reidentify.json
}

################################################################################
# metadata, validate, notAllowed and authorizer: their own logs, and appending to the audit trail
################################################################################

# Every API request, accepted or refused, and every token the authorizer refuses, writes one hash-chained audit
# record (src/adapters/aws/s3-audit-log.ts). To find the chain head: ListObjectsV2 under audit/ (s3:ListBucket,
# which is also what makes HeadObject of a missing key answer 404 instead of 403), GetObject and HeadObject
# (s3:GetObject) of the last records; then PutObject with If-None-Match of audit/{sequence}.json. The bucket's
# default SSE-KMS under the audit key needs GenerateDataKey to write and Decrypt to read. These are exactly the
# audit statements of ingest, triage and reidentify: nothing about the lake, identity store, triage or marts
# buckets or their keys, and no delete or retention change (Object Lock COMPLIANCE forbids them anyway).
data "aws_iam_policy_document" "audit_append" {
  statement {
    sid       = "AuditAppend"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }

  statement {
    sid       = "AuditList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }

  statement {
    sid       = "AuditKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.audit.arn]
  }
}

# metadata: the CapabilityStatement (no token needed)

data "aws_iam_policy_document" "metadata" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["metadata"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "metadata" {
  name   = "metadata"
  role   = aws_iam_role.metadata.id
  policy = data.aws_iam_policy_document.metadata.json
}

resource "aws_iam_role_policy" "metadata_audit" {
  name   = "audit-append"
  role   = aws_iam_role.metadata.id
  policy = data.aws_iam_policy_document.audit_append.json
}

# validate: $validate runs the validator in memory and stores nothing

data "aws_iam_policy_document" "validate" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["validate"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "validate" {
  name   = "validate"
  role   = aws_iam_role.validate.id
  policy = data.aws_iam_policy_document.validate.json
}

resource "aws_iam_role_policy" "validate_audit" {
  name   = "audit-append"
  role   = aws_iam_role.validate.id
  policy = data.aws_iam_policy_document.audit_append.json
}

# notAllowed: 404/405 for every other method and path

data "aws_iam_policy_document" "not_allowed" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["notAllowed"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "not_allowed" {
  name   = "not-allowed"
  role   = aws_iam_role.not_allowed.id
  policy = data.aws_iam_policy_document.not_allowed.json
}

resource "aws_iam_role_policy" "not_allowed_audit" {
  name   = "audit-append"
  role   = aws_iam_role.not_allowed.id
  policy = data.aws_iam_policy_document.audit_append.json
}

# authorizer: fetches the issuer's public JWKS over HTTPS (no IAM needed), audits every token it refuses

data "aws_iam_policy_document" "authorizer" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["authorizer"].arn}:*"]
  }
}

resource "aws_iam_role_policy" "authorizer" {
  name   = "authorizer"
  role   = aws_iam_role.authorizer.id
  policy = data.aws_iam_policy_document.authorizer.json
}

resource "aws_iam_role_policy" "authorizer_audit" {
  name   = "audit-append"
  role   = aws_iam_role.authorizer.id
  policy = data.aws_iam_policy_document.audit_append.json
}
