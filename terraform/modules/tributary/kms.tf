# Customer managed KMS keys. Every data store has its own key so that access to one store never
# implies access to another (in particular: nothing that can read the lake can read the identity store).

locals {
  # Key administration for the account root (delegated to IAM). No use of the key (no Decrypt).
  kms_admin_actions = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
  ]

  # Identity store and pseudonym keys: the same administration, but kms:CreateAlias instead of kms:Create*
  # (kms:Create* includes kms:CreateGrant, and a grant could hand out Decrypt or GenerateMac).
  kms_restricted_admin_actions = [
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
  ]

  # Data-plane use of ordinary keys is delegated to IAM: the function role policies (iam.tf) decide.
  kms_usage_actions = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
  ]
}

# Key policy shared by the lake, marts, triage, audit, versions-table and import keys.
data "aws_iam_policy_document" "kms_default" {
  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.kms_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid       = "UseThroughIamPolicies"
    effect    = "Allow"
    actions   = local.kms_usage_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }
}

# Identity store key: root may administer it but never decrypt; the roles that land resources (ingest, triage's and
# the ops API's re-ingest, recovery's roll-forward, the import chunk step) may only encrypt; the reidentify role is
# the only principal that can decrypt. Use is not delegated to IAM: a landing role missing here is refused by KMS
# (test/unit/kms-key-policies.test.ts).
data "aws_iam_policy_document" "kms_identity" {
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
    sid       = "WritersEncryptOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Encrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["ingest"].arn, aws_iam_role.function["triage"].arn, aws_iam_role.function["recovery"].arn, aws_iam_role.function["ops"].arn, aws_iam_role.function["importChunk"].arn]
    }
  }

  statement {
    sid       = "ReidentifyDecrypt"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["reidentify"].arn]
    }
  }

  statement {
    sid       = "DenyDecryptToAllButReidentify"
    effect    = "Deny"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.function["reidentify"].arn]
    }
  }

  statement {
    sid       = "DenyReEncryptAndGrants"
    effect    = "Deny"
    actions   = ["kms:ReEncrypt*", "kms:CreateGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}

# CloudWatch Logs key: the regional Logs service may use it for this account's log groups only.
data "aws_iam_policy_document" "kms_logs" {
  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.kms_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    effect    = "Allow"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

# SNS topic and SQS queues: SNS must encrypt into the (encrypted) queue.
data "aws_iam_policy_document" "kms_messaging" {
  statement {
    sid       = "KeyAdministration"
    effect    = "Allow"
    actions   = local.kms_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid       = "UseThroughIamPolicies"
    effect    = "Allow"
    actions   = local.kms_usage_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid       = "SnsDeliversToEncryptedQueue"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

locals {
  # Every key of a store or purpose, with its policy: the symmetric keys (one per data store, one each for logs and
  # messaging) and the study key of the safe-analysis path (an HMAC_256 key: analysis.tf). The buckets are
  # encrypted under the key of the same name (s3.tf). Alias: alias/<prefix>-<key>. The keys of this map are state
  # addresses (aws_kms_key.this["lake"], moved.tf): renaming one would schedule the deletion of that key, which
  # makes everything encrypted under it unreadable (or, for the study key, changes every study pseudonym).
  # spec: SYMMETRIC_DEFAULT keys encrypt and rotate yearly; HMAC_256 keys only generate and verify MACs, and KMS
  # cannot rotate them.
  kms_keys = {
    lake = {
      description = "raw lake (pseudonymised FHIR)"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    marts = {
      description = "marts and Athena results"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    triage = {
      description = "triage (quarantined submissions)"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    audit = {
      description = "audit trail"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    versions = {
      description = "FHIR version index table"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    identity = {
      description = "identity store (re-identification data)"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_identity.json
    }
    logs = {
      description = "CloudWatch Logs"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_logs.json
    }
    messaging = {
      description = "SNS topic and SQS queues"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_messaging.json
    }
    import = {
      description = "bulk import bucket (inputs, job state, error outputs)"
      spec        = "SYMMETRIC_DEFAULT"
      policy      = data.aws_iam_policy_document.kms_default.json
    }
    study = {
      description = "study pseudonym HMAC key (per-study pseudonyms of row-level extracts)"
      spec        = "HMAC_256"
      policy      = data.aws_iam_policy_document.kms_study.json
    }
  }
}

# customer_master_key_spec and key_usage as stated are the defaults of the symmetric keys: stating them changes
# nothing of the keys created before the study key joined this map.
resource "aws_kms_key" "this" {
  for_each = local.kms_keys

  description              = "${local.prefix} ${each.value.description}"
  customer_master_key_spec = each.value.spec
  key_usage                = each.value.spec == "HMAC_256" ? "GENERATE_VERIFY_MAC" : "ENCRYPT_DECRYPT"
  enable_key_rotation      = each.value.spec == "SYMMETRIC_DEFAULT"
  deletion_window_in_days  = var.kms_deletion_window_days
  policy                   = each.value.policy
}

resource "aws_kms_alias" "this" {
  for_each = local.kms_keys

  name          = "alias/${local.prefix}-${each.key}"
  target_key_id = aws_kms_key.this[each.key].key_id
}

# Pseudonym HMAC key (HMAC_256 / GENERATE_VERIFY_MAC). KMS cannot rotate HMAC keys automatically, so
# rotation is manual: add a generation to var.hmac_key_versions, apply, set var.hmac_active_key_version
# to it (the alias and the SSM parameters follow), and keep older generations until every pseudonym made
# with them has been re-keyed. The app records the generation (hmac_key_version) with each pseudonym.
data "aws_iam_policy_document" "kms_hmac" {
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
    sid       = "PseudonymiseOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateMac"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["ingest"].arn, aws_iam_role.function["triage"].arn, aws_iam_role.function["recovery"].arn, aws_iam_role.function["ops"].arn, aws_iam_role.function["importChunk"].arn]
    }
  }
}

resource "aws_kms_key" "hmac" {
  for_each = toset(var.hmac_key_versions)

  description              = "${local.prefix} pseudonym HMAC key ${each.key}"
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  # Automatic rotation is not supported for HMAC keys (manual rotation above).
  enable_key_rotation     = false
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_hmac.json
}

resource "aws_kms_alias" "hmac" {
  name          = "alias/${local.prefix}-pseudonym-hmac"
  target_key_id = aws_kms_key.hmac[var.hmac_active_key_version].key_id

  lifecycle {
    precondition {
      condition     = contains(var.hmac_key_versions, var.hmac_active_key_version)
      error_message = "hmac_active_key_version must be one of hmac_key_versions."
    }
  }
}
