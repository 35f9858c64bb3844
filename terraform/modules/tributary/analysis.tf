# Safe analysis (docs/safe-analysis.md): approved analyses run next to the data and only checked outputs leave.
# - one Athena workgroup per study, with its result location and encryption enforced (a query cannot send its
#   results anywhere else, or unencrypted);
# - the study pseudonym key: an HMAC key of its own (not the lake's pseudonym key), from which each study's key
#   is derived, so row-level extracts of two studies cannot be joined to each other or to the lake;
# - the analysis function's role (POST /ops/analyses/{id}/run) and the analyst role (people, with MFA): both may
#   query only through the study workgroups, read only the marts the studies' approved analyses need, MAC with
#   the study key and append to the audit trail. Neither can read the raw lake, the identity store or triage.
# Operators keep their own access to the marts (npm run query); analysts do not get it.

locals {
  # Every mart some study's approved analyses read (view names).
  analysis_marts = sort(distinct(flatten([for s in values(var.analysis_studies) : s.marts])))

  # Glue tables those analyses need: the current-version views and the history tables under them.
  analysis_glue_tables = flatten([for m in local.analysis_marts : ["arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/${m}", "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/${m}_history"]])

  # Their files (the history table of mart <m> is under marts/<m>/ of the marts bucket), and the listing prefixes.
  analysis_mart_objects  = [for m in local.analysis_marts : "${aws_s3_bucket.marts.arn}/marts/${m}/*"]
  analysis_mart_prefixes = [for m in local.analysis_marts : "marts/${m}/*"]
}

resource "aws_athena_workgroup" "study" {
  for_each = var.analysis_studies

  name          = "${local.prefix}-study-${each.key}"
  description   = "Tributary ${var.environment} safe analysis, study ${each.key}"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.analysis_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${aws_s3_bucket.marts.bucket}/analysis-results/${each.key}/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.marts.arn
      }
    }
  }
}

################################################################################
# The study pseudonym key
################################################################################

data "aws_iam_policy_document" "kms_study" {
  statement {
    sid       = "KeyAdministrationWithoutUse"
    effect    = "Allow"
    actions   = local.kms_restricted_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid       = "StudyPseudonymsOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateMac"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.analysis.arn, aws_iam_role.analyst.arn]
    }
  }
}

resource "aws_kms_key" "study" {
  description              = "${local.prefix} study pseudonym HMAC key (per-study pseudonyms of row-level extracts)"
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  # Automatic rotation is not supported for HMAC keys; a new key means new pseudonyms in every study.
  enable_key_rotation     = false
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_study.json
}

resource "aws_kms_alias" "study" {
  name          = "alias/${local.prefix}-study-hmac"
  target_key_id = aws_kms_key.study.key_id
}

################################################################################
# Roles: the analysis function, and analysts
################################################################################

data "aws_iam_policy_document" "analyst_assume" {
  statement {
    sid     = "AnalystsWithMfa"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = length(var.analyst_principal_arns) > 0 ? var.analyst_principal_arns : [local.root_arn]
    }

    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "analysis" {
  name                 = "${local.prefix}-analysis"
  description          = "Tributary safe analysis (POST /ops/analyses/{id}/run): approved analyses through the study workgroups."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role" "analyst" {
  name                 = "${local.prefix}-analyst"
  description          = "Tributary analysts: approved analyses through the study workgroups, nothing else of the data."
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
}

# What approved analyses need, and nothing more: queries through the study workgroups only, the catalogue
# entries and files of the marts the studies read, the workgroups' result prefix, the marts key, the study key.
data "aws_iam_policy_document" "analysis_read" {
  # Queries run only in a study workgroup (named <prefix>-study-<study>), never in the operators' workgroup.
  statement {
    sid       = "StudyWorkgroups"
    effect    = "Allow"
    actions   = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution", "athena:GetWorkGroup"]
    resources = ["arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${local.prefix}-study-*"]
  }

  statement {
    sid       = "MartsDatabase"
    effect    = "Allow"
    actions   = ["glue:GetDatabase"]
    resources = ["arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog", "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.lake.name}"]
  }

  statement {
    sid       = "ApprovedMartsCatalog"
    effect    = "Allow"
    actions   = ["glue:GetTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"]
    resources = local.analysis_glue_tables
  }

  statement {
    sid       = "ApprovedMartsRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = local.analysis_mart_objects
  }

  statement {
    sid       = "ApprovedMartsList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.marts.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.analysis_mart_prefixes
    }
  }

  statement {
    sid       = "StudyResultsList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.marts.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["analysis-results/*"]
    }
  }

  statement {
    sid       = "StudyResults"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${aws_s3_bucket.marts.arn}/analysis-results/*"]
  }

  statement {
    sid       = "Releases"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.marts.arn}/releases/*"]
  }

  statement {
    sid       = "MartsKey"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.marts.arn]
  }

  statement {
    sid       = "StudyKey"
    effect    = "Allow"
    actions   = ["kms:GenerateMac"]
    resources = [aws_kms_key.study.arn]
  }
}

data "aws_iam_policy_document" "analysis" {
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["analysis"].arn}:*"]
  }
}

# Every run, refusal, approval and release appends a hash-chained audit record: the same audit grants as every
# function (read the chain head, conditional PutObject of the next record; Object Lock forbids the rest).
data "aws_iam_policy_document" "analysis_audit" {
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

resource "aws_iam_role_policy" "analysis" {
  name   = "analysis"
  role   = aws_iam_role.analysis.id
  policy = data.aws_iam_policy_document.analysis.json
}

resource "aws_iam_role_policy" "analysis_read" {
  name   = "analysis-read"
  role   = aws_iam_role.analysis.id
  policy = data.aws_iam_policy_document.analysis_read.json
}

resource "aws_iam_role_policy" "analysis_audit" {
  name   = "audit-append"
  role   = aws_iam_role.analysis.id
  policy = data.aws_iam_policy_document.analysis_audit.json
}

resource "aws_iam_role_policy" "analyst_read" {
  name   = "analysis-read"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analysis_read.json
}

resource "aws_iam_role_policy" "analyst_audit" {
  name   = "audit-append"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analysis_audit.json
}

################################################################################
# Outputs (the SSM parameters of ssm.tf carry the first two to serverless.yml)
################################################################################

output "analysis_role_arn" {
  description = "Execution role of the analysis function (POST /ops/analyses/{id}/run)."
  value       = aws_iam_role.analysis.arn
}

output "study_kms_key_arn" {
  description = "HMAC key behind the per-study pseudonyms of row-level extracts (STUDY_KMS_KEY_ARN)."
  value       = aws_kms_key.study.arn
}

output "analyst_role_arn" {
  description = "Role analysts assume (with MFA) to run approved analyses."
  value       = aws_iam_role.analyst.arn
}

output "analysis_workgroups" {
  description = "Athena workgroup of each study."
  value       = { for k, w in aws_athena_workgroup.study : k => w.name }
}
