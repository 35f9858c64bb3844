# Ingest events: ingest/triage publish to SNS; the topic fans out to the ETL queue (with a DLQ).

resource "aws_sns_topic" "ingest" {
  name              = "${local.prefix}-ingest-events"
  kms_master_key_id = aws_kms_key.this["messaging"].arn
}

resource "aws_sqs_queue" "etl_dlq" {
  name                              = "${local.prefix}-etl-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this["messaging"].arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "etl" {
  name                              = "${local.prefix}-etl"
  visibility_timeout_seconds        = var.etl_visibility_timeout_seconds
  message_retention_seconds         = 345600
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = aws_kms_key.this["messaging"].arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.etl_dlq.arn
    maxReceiveCount     = var.etl_max_receive_count
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "etl_dlq" {
  queue_url = aws_sqs_queue.etl_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.etl.arn]
  })
}

data "aws_iam_policy_document" "etl_queue" {
  statement {
    sid       = "IngestTopicDelivers"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.etl.arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.ingest.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.etl.arn]

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
}

resource "aws_sqs_queue_policy" "etl" {
  queue_url = aws_sqs_queue.etl.id
  policy    = data.aws_iam_policy_document.etl_queue.json
}

resource "aws_sns_topic_subscription" "etl" {
  topic_arn = aws_sns_topic.ingest.arn
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.etl.arn
  # true: the SQS body is the IngestEvent JSON itself; false: it is the SNS envelope.
  raw_message_delivery = var.etl_raw_message_delivery

  depends_on = [aws_sqs_queue_policy.etl]
}

data "aws_iam_policy_document" "ingest_topic" {
  statement {
    sid       = "PublishersOnly"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.ingest.arn]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["ingest"].arn, aws_iam_role.function["triage"].arn, aws_iam_role.function["importChunk"].arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.ingest.arn]

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
}

resource "aws_sns_topic_policy" "ingest" {
  arn    = aws_sns_topic.ingest.arn
  policy = data.aws_iam_policy_document.ingest_topic.json
}
