# One execution role per function (local.function_roles, keyed like local.functions), each with only what that
# function does: the Logs statement on its own log group, then the statements local.function_statements lists for
# it. Policies are attached as separate aws_iam_role_policy resources so the KMS key policies can name the roles
# without a cycle. No statement grants a service-wide wildcard (s3:*, kms:*, *), and every data-plane statement
# names its resources.
#
# Role names are <prefix>-<name>: changing a name replaces the role. The moved blocks in moved.tf carry the
# former per-function resources (aws_iam_role.ingest, ...) to these instances.

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

locals {
  # Per function: the role's name (<prefix>-<name>, also the name of its policy), its description, who may assume
  # it, and whether it gets the shared audit-append policy (the functions whose own statements do not append to
  # the audit trail). Nothing here may reference the buckets or keys: their policies name these roles.
  function_roles = {
    ingest = {
      name                = "ingest"
      description         = "Tributary ingest: validates, pseudonymises and lands FHIR."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    triage = {
      name                = "triage"
      description         = "Tributary triage recheck: re-ingests held submissions."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    etl = {
      name                = "etl"
      description         = "Tributary ETL: raw lake to marts. No identity store access."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    metadata = {
      name                = "metadata"
      description         = "Tributary CapabilityStatement: its logs and audit append only."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = true
    }
    validate = {
      name                = "validate"
      description         = "Tributary $validate (nothing stored): its logs and audit append only."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = true
    }
    notAllowed = {
      name                = "not-allowed"
      description         = "Tributary refusals of unsupported methods and paths: its logs and audit append only."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = true
    }
    authorizer = {
      name                = "authorizer"
      description         = "Tributary JWT authorizer: its logs and audit append only."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = true
    }
    recovery = {
      name                = "recovery"
      description         = "Tributary commit recovery: completes or rolls back in-flight writes (docs/commit-protocol.md). Cannot read the identity store."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    reidentify = {
      name                = "reidentify"
      description         = "Tributary re-identification: the only principal that can decrypt the identity store."
      assume_role_policy  = data.aws_iam_policy_document.reidentify_assume.json
      audit_append_policy = false
    }
    ops = {
      name                = "ops"
      description         = "Tributary ops API (/ops/*): job records, audit verify, triage recheck, ETL retry."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    analysis = {
      name                = "analysis"
      description         = "Tributary safe analysis (POST /ops/analyses/{id}/run): approved analyses through the study workgroups."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    # The steps of the bulk import state machine (import.tf, docs/import.md).
    importPlan = {
      name                = "import-plan"
      description         = "Tributary bulk import plan step: reads a job's inputs and writes its chunk plan (import bucket only)."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    importChunk = {
      name                = "import-chunk"
      description         = "Tributary bulk import chunk step: imports one chunk of an input through the ingest write path."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
    importFinish = {
      name                = "import-finish"
      description         = "Tributary bulk import finish step: a job's error output, final state and audit record."
      assume_role_policy  = data.aws_iam_policy_document.lambda_assume.json
      audit_append_policy = false
    }
  }

  # Each function's statements after Logs, in order (the groups of iam_statements.tf and import.tf, or its own).
  # metadata, validate, notAllowed and authorizer have none: their logs, and the audit-append policy.
  function_statements = {
    # ingest also serves $import (kick-off and status): the job state in the import bucket (import.tf).
    ingest = [
      local.raw_lake_write_statements,
      local.triage_write_statements,
      local.landing_statements,
      local.audit_append_statements,
      local.import_api_statements,
    ]

    # triage (recheck): reads the triage bucket, then writes like ingest.
    triage = [
      [
        {
          sid        = "TriageObjects"
          actions    = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          resources  = ["${aws_s3_bucket.this["triage"].arn}/*"]
          conditions = []
        },
        {
          sid        = "TriageList"
          actions    = ["s3:ListBucket"]
          resources  = [aws_s3_bucket.this["triage"].arn]
          conditions = []
        },
        {
          sid        = "TriageKey"
          actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
          resources  = [aws_kms_key.this["triage"].arn]
          conditions = []
        },
      ],
      local.raw_lake_write_statements,
      local.landing_statements,
      local.audit_append_statements,
    ]

    # etl: raw lake -> marts + Glue catalog. Nothing about the identity store, by design.
    etl = [
      {
        sid        = "ConsumeQueue"
        actions    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        resources  = [aws_sqs_queue.etl.arn]
        conditions = []
      },
      {
        sid        = "QueueKey"
        actions    = ["kms:Decrypt"]
        resources  = [aws_kms_key.this["messaging"].arn]
        conditions = []
      },
      {
        sid        = "RawLakeRead"
        actions    = ["s3:GetObject"]
        resources  = ["${aws_s3_bucket.this["lake"].arn}/*"]
        conditions = []
      },
      {
        sid        = "RawLakeList"
        actions    = ["s3:ListBucket"]
        resources  = [aws_s3_bucket.this["lake"].arn]
        conditions = []
      },
      {
        sid        = "RawLakeKeyDecrypt"
        actions    = ["kms:Decrypt"]
        resources  = [aws_kms_key.this["lake"].arn]
        conditions = []
      },
      {
        sid        = "MartsObjects"
        actions    = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        resources  = ["${aws_s3_bucket.this["marts"].arn}/*"]
        conditions = []
      },
      {
        sid        = "MartsList"
        actions    = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
        resources  = [aws_s3_bucket.this["marts"].arn]
        conditions = []
      },
      # Decrypt is needed as well as GenerateDataKey for multipart uploads of large mart files.
      {
        sid        = "MartsKey"
        actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources  = [aws_kms_key.this["marts"].arn]
        conditions = []
      },
      {
        sid = "GlueCatalog"
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
        conditions = []
      },
      local.jobs_write_statements,
    ]

    # recovery (scheduled): the commit protocol's roll-forward and rollback (docs/commit-protocol.md): the lake
    # (outbox, staged and raw objects, manifests), the version index, events, identity records made current or
    # deleted (write and delete only: it cannot read the identity store), the audit record of a committed request.
    recovery = [
      local.raw_lake_write_statements,
      local.landing_statements,
      local.audit_append_statements,
    ]

    # reidentify: the only reader of the identity store.
    reidentify = [
      [
        {
          sid        = "IdentityStoreRead"
          actions    = ["s3:GetObject"]
          resources  = ["${aws_s3_bucket.this["identity"].arn}/*"]
          conditions = []
        },
        {
          sid        = "IdentityStoreList"
          actions    = ["s3:ListBucket"]
          resources  = [aws_s3_bucket.this["identity"].arn]
          conditions = []
        },
        {
          sid        = "IdentityKeyDecrypt"
          actions    = ["kms:Decrypt"]
          resources  = [aws_kms_key.this["identity"].arn]
          conditions = []
        },
      ],
      local.audit_append_statements,
    ]

    # analysis: approved analyses through the study workgroups, the tables they need, the study key, releases
    # (local.analysis_statements, analysis.tf); every run, refusal and release is audited.
    analysis = [
      local.analysis_statements,
      local.audit_append_statements,
    ]

    # ops: the console's API (console.tf: local.ops_statements); re-ingests like triage; every action audited.
    ops = [
      local.ops_statements,
      local.raw_lake_write_statements,
      local.landing_statements,
      local.audit_append_statements,
    ]

    # metadata: the CapabilityStatement (no token needed).
    metadata = []
    # validate: $validate runs the validator in memory and stores nothing.
    validate = []
    # notAllowed: 404/405 for every other method and path.
    notAllowed = []
    # authorizer: fetches the issuer's public JWKS over HTTPS (no IAM needed), audits every token it refuses.
    authorizer = []

    # The bulk import steps (import.tf): each reads and writes the job's state in the import bucket.
    # importPlan: streams the job's inputs once and writes its chunk items (the plans the Distributed Map reads).
    importPlan = [
      local.import_inputs_read_statements,
      local.import_job_state_statements,
      local.import_list_statements,
    ]
    # importChunk: one chunk's byte range of an input, then ingest's write path (lake, triage, identity records,
    # pseudonyms, version index, events, audit), as a batch request of the job's source.
    importChunk = [
      local.import_inputs_read_statements,
      local.import_job_state_statements,
      local.raw_lake_write_statements,
      local.triage_write_statements,
      local.landing_statements,
      local.audit_append_statements,
    ]
    # importFinish: the error output and the job's final state (import bucket), the job's audit record.
    importFinish = [
      local.import_job_state_statements,
      local.import_list_statements,
      local.audit_append_statements,
    ]
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_roles

  name                 = "${local.prefix}-${each.value.name}"
  description          = each.value.description
  assume_role_policy   = each.value.assume_role_policy
  permissions_boundary = var.permissions_boundary_arn
  # One hour, the AWS default, stated for every role: it also bounds the sessions of operators assuming reidentify.
  max_session_duration = 3600
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_roles

  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  dynamic "statement" {
    for_each = flatten(local.function_statements[each.key])

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_roles

  name   = each.value.name
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

# The audit statements of ingest, triage and reidentify, as a policy of its own for the functions that only log
# and audit: nothing about the lake, identity store, triage or marts buckets or their keys, and no delete or
# retention change (Object Lock COMPLIANCE forbids them anyway).
data "aws_iam_policy_document" "audit_append" {
  dynamic "statement" {
    for_each = local.audit_append_statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "audit_append" {
  for_each = { for name, role in local.function_roles : name => role if role.audit_append_policy }

  name   = "audit-append"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.audit_append.json
}
