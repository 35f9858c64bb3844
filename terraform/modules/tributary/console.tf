# Operations console (issue 16, docs/console.md): the ETL job records table, the console's static assets in a
# private S3 bucket behind CloudFront (origin access control), and CloudFront routing /ops/* to the REST API, so the
# console and its API share one origin (no CORS). The ops API itself is the `ops` function of serverless.yml, on
# the same API Gateway and authorizer as the FHIR API.

# One item per ETL job (src/adapters/aws/dynamodb-job-log.ts): key id, TTL attribute expiresAt.
resource "aws_dynamodb_table" "jobs" {
  name                        = "${local.prefix}-jobs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }

  # Job records hold ids, keys, counts and error classes only (no PHI): the AWS owned key is enough.
  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }
}

resource "aws_s3_bucket" "console" {
  bucket        = "${local.prefix}-console-${local.account_id}"
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "console" {
  bucket                  = aws_s3_bucket.console.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "console" {
  bucket = aws_s3_bucket.console.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_cloudfront_origin_access_control" "console" {
  name                              = "${local.prefix}-console"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

locals {
  # API Gateway managed policies: CachingDisabled, AllViewerExceptHostHeader; S3: CachingOptimized.
  cf_caching_disabled       = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  cf_caching_optimized      = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  cf_all_viewer_except_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
  console_has_api_origin    = var.console_api_domain != ""
}

resource "aws_cloudfront_distribution" "console" {
  enabled             = true
  comment             = "Tributary ${var.environment} operations console"
  default_root_object = "index.html"
  price_class         = "PriceClass_100"

  origin {
    origin_id                = "console-assets"
    domain_name              = aws_s3_bucket.console.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.console.id
  }

  dynamic "origin" {
    for_each = local.console_has_api_origin ? [1] : []
    content {
      origin_id   = "ops-api"
      domain_name = var.console_api_domain
      origin_path = var.console_api_stage_path
      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }
    }
  }

  default_cache_behavior {
    target_origin_id       = "console-assets"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = local.cf_caching_optimized
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.console_has_api_origin ? [1] : []
    content {
      path_pattern             = "/ops/*"
      target_origin_id         = "ops-api"
      viewer_protocol_policy   = "https-only"
      allowed_methods          = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods           = ["GET", "HEAD"]
      cache_policy_id          = local.cf_caching_disabled
      origin_request_policy_id = local.cf_all_viewer_except_host
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
    minimum_protocol_version       = "TLSv1.2_2021"
  }
}

data "aws_iam_policy_document" "console_bucket" {
  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.console.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.console.arn]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.console.arn, "${aws_s3_bucket.console.arn}/*"]
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

resource "aws_s3_bucket_policy" "console" {
  bucket = aws_s3_bucket.console.id
  policy = data.aws_iam_policy_document.console_bucket.json
}

locals {
  # The ETL writes one job record per event.
  jobs_write_statements = [
    {
      sid        = "JobRecordsWrite"
      actions    = ["dynamodb:GetItem", "dynamodb:PutItem"]
      resources  = [aws_dynamodb_table.jobs.arn]
      conditions = []
    },
  ]

  # The ops API: reads job records, the audit trail (verify) and the DLQ depth; a retry re-publishes the event
  # (landing_statements' PublishEvents); a triage recheck re-ingests like the triage role.
  ops_statements = [
    {
      sid        = "JobRecordsRead"
      actions    = ["dynamodb:GetItem", "dynamodb:Scan"]
      resources  = [aws_dynamodb_table.jobs.arn]
      conditions = []
    },
    {
      sid        = "DeadLetterDepth"
      actions    = ["sqs:GetQueueAttributes"]
      resources  = [aws_sqs_queue.etl_dlq.arn]
      conditions = []
    },
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
  ]
}
