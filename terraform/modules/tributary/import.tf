# Bulk import in AWS (docs/import.md, issue #15): `POST /fhir/$import` (the ingest function) writes the job to the
# import bucket (import-jobs/{id}/job.json) and a start marker import-jobs/{id}/start
# (src/adapters/aws/s3-import-launcher.ts). S3 sends its Object Created events to EventBridge; the rule below turns
# a start marker into an execution of the import state machine (config/import-state-machine.asl.json): Plan
# (importPlan) writes the job's chunk items in two waves, a Distributed Map per wave runs one importChunk per item
# (Express child executions, at most 40 at a time), Finish (importFinish) writes the error output and the audit
# record. The three functions are deployed by serverless.yml (names <service>-<stage>-<function>, like their log
# groups) with the roles of local.function_roles (iam.tf) and the statements below; the state machine invokes them
# by name, so Terraform needs nothing from a serverless deploy.
# - the import bucket: aws_s3_bucket.this["import"] (local.buckets, s3.tf), under its own key
#   aws_kms_key.this["import"] (local.kms_keys, kms.tf);
# - the state machine's and the EventBridge rule's roles: aws_iam_role.import (local.import_service_roles);
# - the state machine's execution log: aws_cloudwatch_log_group.service["import_state_machine"] (logs.tf).

locals {
  # The objects of the import bucket: a job's inputs are under inputs/ (src/core/import/job.ts refuses any other
  # key), its state under import-jobs/{id}/ (src/adapters/aws/s3-import-job-store.ts). HeadObject (the kick-off's
  # check that an input exists) is authorised as s3:GetObject.
  import_inputs_read_statements = [
    {
      sid        = "ImportInputsRead"
      actions    = ["s3:GetObject"]
      resources  = ["${aws_s3_bucket.this["import"].arn}/inputs/*"]
      conditions = []
    },
  ]

  # A job's state: job.json, one record per committed chunk, the chunk plans, the start marker, the error output.
  # The bucket's default SSE-KMS under the import key (the adapters name the key too: IMPORT_KMS_KEY_ARN).
  import_job_state_statements = [
    {
      sid        = "ImportJobState"
      actions    = ["s3:GetObject", "s3:PutObject"]
      resources  = ["${aws_s3_bucket.this["import"].arn}/import-jobs/*"]
      conditions = []
    },
    {
      sid        = "ImportKey"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [aws_kms_key.this["import"].arn]
      conditions = []
    },
  ]

  # Listing a job's chunk records (status manifest, plan, finish). s3:ListBucket is also what makes GetObject and
  # HeadObject of a missing key answer 404 (an unknown job, a missing input) instead of 403, which no s3:prefix
  # condition would allow (those requests carry no prefix), so it is not narrowed by one.
  import_list_statements = [
    {
      sid        = "ImportList"
      actions    = ["s3:ListBucket"]
      resources  = [aws_s3_bucket.this["import"].arn]
      conditions = []
    },
  ]

  # The API's part (the ingest function serves $import and the job status): checks the inputs exist, writes the job
  # and its start marker, reads the job and its chunk records. It needs no Step Functions permission.
  import_api_statements = [
    local.import_inputs_read_statements,
    local.import_job_state_statements,
    local.import_list_statements,
  ]

  # The Lambda functions the state machine invokes, by the placeholders of config/import-state-machine.asl.json.
  # serverless.yml deploys them as <service>-<stage>-<function> (local.prefix-<function>, as logs.tf names their
  # log groups).
  import_state_machine_file = "${path.module}/../../../config/import-state-machine.asl.json"
  import_state_machine_vars = {
    ImportPlanFunctionArn   = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importPlan"
    ImportChunkFunctionArn  = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importChunk"
    ImportFinishFunctionArn = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importFinish"
  }

  # The roles of the two services of the import path, and who may assume each: Step Functions (only for a state
  # machine of this account and region) and EventBridge (only for the start rule of this account).
  import_service_roles = {
    state_machine = {
      name        = "import-state-machine"
      description = "Tributary bulk import state machine: invokes the three import steps, reads their chunk plans, runs its Distributed Map."
      service     = "states.amazonaws.com"
      source_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:*"
    }
    events = {
      name        = "import-start"
      description = "Tributary bulk import start: EventBridge starts the import state machine on a job's start marker."
      service     = "events.amazonaws.com"
      source_arn  = aws_cloudwatch_event_rule.import_start.arn
    }
  }

  # Their statements (always Allow). The state machine's ARN is written out from its name: the state machine
  # depends on these policies (CreateStateMachine checks the log delivery rights), so they cannot reference it.
  import_service_statements = {
    state_machine = [
      {
        sid        = "InvokeImportSteps"
        actions    = ["lambda:InvokeFunction"]
        resources  = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importPlan", "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importChunk", "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.prefix}-importFinish"]
        conditions = []
      },
      # A Distributed Map starts its child executions as executions of the state machine itself, and describes and
      # stops them (docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
      {
        sid        = "StartChildExecutions"
        actions    = ["states:StartExecution"]
        resources  = ["arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.prefix}-import"]
        conditions = []
      },
      {
        sid        = "ChildExecutions"
        actions    = ["states:DescribeExecution", "states:StopExecution"]
        resources  = ["arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.prefix}-import/*", "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.prefix}-import:*"]
        conditions = []
      },
      # The ItemReader of each wave: the chunk plan Plan wrote (import-jobs/{id}/plan-{wave}.json), under the
      # import key through S3.
      {
        sid        = "ReadChunkPlans"
        actions    = ["s3:GetObject"]
        resources  = ["${aws_s3_bucket.this["import"].arn}/import-jobs/*/plan-*.json"]
        conditions = []
      },
      {
        sid        = "ChunkPlansKey"
        actions    = ["kms:Decrypt"]
        resources  = [aws_kms_key.this["import"].arn]
        conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["s3.${local.region}.amazonaws.com"] }]
      },
      # Execution logging: CloudWatch Logs' vended log delivery. These actions have no resource-level permissions
      # (docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html), so Resource must be "*": the one statement of
      # the module's roles on "*" (test/unit/import-terraform.test.ts names it). They manage log deliveries and the
      # Logs resource policy, and read or write no log event and no data.
      {
        sid        = "LogDelivery"
        actions    = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]
        resources  = ["*"]
        conditions = []
      },
    ]
    events = [
      {
        sid        = "StartImportExecution"
        actions    = ["states:StartExecution"]
        resources  = ["arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.prefix}-import"]
        conditions = []
      },
    ]
  }
}

data "aws_iam_policy_document" "import_assume" {
  for_each = local.import_service_roles

  statement {
    sid     = "ServiceAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [each.value.service]
    }

    # Confused deputy: only on behalf of this account, for the expected source.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [each.value.source_arn]
    }
  }
}

resource "aws_iam_role" "import" {
  for_each = local.import_service_roles

  name                 = "${local.prefix}-${each.value.name}"
  description          = each.value.description
  assume_role_policy   = data.aws_iam_policy_document.import_assume[each.key].json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
}

data "aws_iam_policy_document" "import" {
  for_each = local.import_service_roles

  dynamic "statement" {
    for_each = local.import_service_statements[each.key]

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

resource "aws_iam_role_policy" "import" {
  for_each = local.import_service_roles

  name   = each.value.name
  role   = aws_iam_role.import[each.key].id
  policy = data.aws_iam_policy_document.import[each.key].json
}

# The state machine, from the ASL file with its placeholders filled in (templatefile fails the plan if the file
# names a placeholder that is not given). STANDARD: a Distributed Map runs in a Standard workflow (its children are
# Express). The execution log records errors only, and never execution data (ids and byte ranges, but no payload
# ever goes there); Step Functions keeps every execution's history itself.
resource "aws_sfn_state_machine" "import" {
  name       = "${local.prefix}-import"
  type       = "STANDARD"
  role_arn   = aws_iam_role.import["state_machine"].arn
  definition = templatefile(local.import_state_machine_file, local.import_state_machine_vars)

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.service["import_state_machine"].arn}:*"
    include_execution_data = false
    level                  = "ERROR"
  }

  depends_on = [aws_iam_role_policy.import]
}

# S3 sends every Object Created event of the import bucket to EventBridge; the rule keeps the start markers.
resource "aws_s3_bucket_notification" "import" {
  bucket      = aws_s3_bucket.this["import"].id
  eventbridge = true
}

resource "aws_cloudwatch_event_rule" "import_start" {
  name        = "${local.prefix}-import-start"
  description = "Tributary bulk import: a job's start marker (import-jobs/{id}/start) starts the import state machine."
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [aws_s3_bucket.this["import"].bucket] }
      object = { key = [{ wildcard = "import-jobs/*/start" }] }
    }
  })
}

# The execution's input is the event itself: Plan reads the job id from detail.object.key
# (src/handlers/import-steps.ts). A start that EventBridge cannot deliver is retried by EventBridge; a job whose
# start is lost stays queued, and a status call that finds it stale writes the marker again.
resource "aws_cloudwatch_event_target" "import_start" {
  rule      = aws_cloudwatch_event_rule.import_start.name
  target_id = "import-state-machine"
  arn       = aws_sfn_state_machine.import.arn
  role_arn  = aws_iam_role.import["events"].arn
}

output "import_bucket" {
  description = "Bulk import bucket (inputs under inputs/, job state under import-jobs/)."
  value       = aws_s3_bucket.this["import"].bucket
}

output "import_kms_key_arn" {
  description = "KMS key of the import bucket (IMPORT_KMS_KEY_ARN)."
  value       = aws_kms_key.this["import"].arn
}

output "import_plan_role_arn" {
  description = "Execution role of the importPlan function."
  value       = aws_iam_role.function["importPlan"].arn
}

output "import_chunk_role_arn" {
  description = "Execution role of the importChunk function."
  value       = aws_iam_role.function["importChunk"].arn
}

output "import_finish_role_arn" {
  description = "Execution role of the importFinish function."
  value       = aws_iam_role.function["importFinish"].arn
}

output "import_state_machine_arn" {
  description = "The bulk import state machine (a manual rerun of a job: start an execution with {\"jobId\": \"<id>\"})."
  value       = aws_sfn_state_machine.import.arn
}
