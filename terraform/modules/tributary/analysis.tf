# Safe analysis (docs/safe-analysis.md): approved analyses run next to the data and only checked outputs leave.
# - one Athena workgroup per study, with its result location and encryption enforced (a query cannot send its
#   results anywhere else, or unencrypted);
# - the study pseudonym key: an HMAC key of its own (not the lake's pseudonym key), from which each study's key
#   is derived, so row-level extracts of two studies cannot be joined to each other or to the lake. It is
#   aws_kms_key.this["study"] (local.kms_keys, kms.tf) with the key policy kms_study below;
# - the analysis function's role (POST /ops/analyses/{id}/run): aws_iam_role.function["analysis"] (local.function_roles,
#   iam.tf) with local.analysis_statements below and the audit-append statements. It is the only principal that
#   queries the marts for an analysis: it may query only through the study workgroups, read only the tables the
#   studies' approved analyses need, MAC with the study key, write releases and append to the audit trail. It can
#   read nothing of the raw lake, the identity store or triage;
# - the analyst role (people, with MFA): reads released files (releases/ of the marts bucket) and nothing else.
#   Analysts run approved analyses through the analysis function (the ops route, with a token granting
#   tributary/analysis.run), where the output checker runs before anything leaves; a role that could start Athena
#   queries itself could run any SQL over the marts and read the unchecked results, which is what the path exists
#   to prevent.
# Operators keep their own access to the marts (npm run query); analysts do not get it.

locals {
  # The workgroup of study <s> is <prefix>-study-<s>. serverless.yml gives the analysis function the same prefix
  # (ANALYSIS_WORKGROUP_PREFIX = <service>-<stage>-study-, as it names the log groups of logs.tf), and
  # test/unit/analysis-terraform.test.ts checks that the two agree for every stage.
  analysis_workgroup_prefix = "${local.prefix}-study-"

  # Every mart some study's approved analyses read (view names).
  analysis_marts = sort(distinct(flatten([for s in values(var.analysis_studies) : s.marts])))

  # The Glue tables a run reads: each mart's current-version view and the <view>_history table under it;
  # resource_versions, which every current-version view joins (src/core/catalog.ts, currentViewSql); and
  # patient_history, where the output checker looks up the lake pseudonyms it scans every output for
  # (src/core/analysis/run.ts, LAKE_PSEUDONYMS_SQL), whatever the study reads.
  analysis_glue_tables = sort(distinct(concat(flatten([for m in local.analysis_marts : [m, "${m}_history"]]), ["resource_versions", "patient_history"])))

  # Their folders in the marts bucket: marts/<view>/ holds the files of <view>_history (a view has none).
  analysis_mart_folders = sort(distinct(concat(local.analysis_marts, ["resource_versions", "patient"])))

  # The analysis function's statements after Logs (iam.tf adds the audit-append statements).
  analysis_statements = [
    # Queries run only in the study workgroups (named <prefix>-study-<study>), never in the operators' workgroup.
    {
      sid        = "StudyWorkgroups"
      actions    = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution", "athena:GetWorkGroup"]
      resources  = [for w in aws_athena_workgroup.study : w.arn]
      conditions = []
    },
    {
      sid        = "MartsDatabase"
      actions    = ["glue:GetDatabase"]
      resources  = ["arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog", "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.lake.name}"]
      conditions = []
    },
    {
      sid        = "ApprovedMartsCatalog"
      actions    = ["glue:GetTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"]
      resources  = [for t in local.analysis_glue_tables : "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.lake.name}/${t}"]
      conditions = []
    },
    {
      sid        = "ApprovedMartsRead"
      actions    = ["s3:GetObject"]
      resources  = [for f in local.analysis_mart_folders : "${aws_s3_bucket.this["marts"].arn}/marts/${f}/*"]
      conditions = []
    },
    # Listing the marts bucket: only under those folders, and the workgroups' result prefix.
    {
      sid        = "ApprovedMartsList"
      actions    = ["s3:ListBucket"]
      resources  = [aws_s3_bucket.this["marts"].arn]
      conditions = [{ test = "StringLike", variable = "s3:prefix", values = concat([for f in local.analysis_mart_folders : "marts/${f}/*"], ["analysis-results/*"]) }]
    },
    # Athena looks up the region of the result location's bucket with the caller's credentials.
    {
      sid        = "StudyResultsBucket"
      actions    = ["s3:GetBucketLocation"]
      resources  = [aws_s3_bucket.this["marts"].arn]
      conditions = []
    },
    # Athena writes a query's result under the workgroup's location and GetQueryResults reads it back, both with
    # the caller's credentials.
    {
      sid        = "StudyResults"
      actions    = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
      resources  = ["${aws_s3_bucket.this["marts"].arn}/analysis-results/*"]
      conditions = []
    },
    {
      sid        = "Releases"
      actions    = ["s3:PutObject"]
      resources  = ["${aws_s3_bucket.this["marts"].arn}/releases/*"]
      conditions = []
    },
    {
      sid        = "MartsKey"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [aws_kms_key.this["marts"].arn]
      conditions = []
    },
    {
      sid        = "StudyKey"
      actions    = ["kms:GenerateMac"]
      resources  = [aws_kms_key.this["study"].arn]
      conditions = []
    },
  ]
}

resource "aws_athena_workgroup" "study" {
  for_each = var.analysis_studies

  name          = "${local.analysis_workgroup_prefix}${each.key}"
  description   = "Tributary ${var.environment} safe analysis, study ${each.key}"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.analysis_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this["marts"].bucket}/analysis-results/${each.key}/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.this["marts"].arn
      }
    }
  }
}

################################################################################
# The study pseudonym key's policy (the key: local.kms_keys["study"], kms.tf)
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
      identifiers = [aws_iam_role.function["analysis"].arn]
    }
  }
}

################################################################################
# Analysts: released files only
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

resource "aws_iam_role" "analyst" {
  name                 = "${local.prefix}-analyst"
  description          = "Tributary analysts: released (checked) outputs of approved analyses, nothing else of the data."
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
}

# The files the analysis function released (releases/<analysis>/<release id>/), decrypted through S3 only.
data "aws_iam_policy_document" "analyst" {
  statement {
    sid       = "ReleasesRead"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.this["marts"].arn}/releases/*"]
  }

  statement {
    sid       = "ReleasesList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this["marts"].arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["releases/*"]
    }
  }

  statement {
    sid       = "ReleasesKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this["marts"].arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "analyst" {
  name   = "analyst"
  role   = aws_iam_role.analyst.id
  policy = data.aws_iam_policy_document.analyst.json
}

################################################################################
# Outputs (ssm.tf publishes the function's role and the study key to serverless.yml)
################################################################################

output "analysis_role_arn" {
  description = "Execution role of the analysis function (POST /ops/analyses/{id}/run)."
  value       = aws_iam_role.function["analysis"].arn
}

output "study_kms_key_arn" {
  description = "HMAC key behind the per-study pseudonyms of row-level extracts (STUDY_KMS_KEY_ARN)."
  value       = aws_kms_key.this["study"].arn
}

output "analysis_workgroup_prefix" {
  description = "Prefix of the study workgroups: the workgroup of study <s> is <prefix><s> (the analysis function's ANALYSIS_WORKGROUP_PREFIX)."
  value       = local.analysis_workgroup_prefix
}

output "analyst_role_arn" {
  description = "Role analysts assume (with MFA) to read released outputs."
  value       = aws_iam_role.analyst.arn
}

output "analysis_workgroups" {
  description = "Athena workgroup of each study."
  value       = { for k, w in aws_athena_workgroup.study : k => w.name }
}
