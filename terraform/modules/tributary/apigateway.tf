# The role API Gateway uses to write CloudWatch logs. It is an account-level, per-region setting
# (aws_api_gateway_account) shared by every REST API of the account in this region, so serverless.yml does not
# create it (provider.logs.restApi.roleManagedExternally: true) and only one Terraform environment per account
# and region may manage it: set manage_api_gateway_account = false in the others, or where the account's
# landing zone already sets the role (every Tributary access log group is covered by this role's policy).
#
# Least privilege instead of the AWS managed AmazonAPIGatewayPushToCloudWatchLogs (which allows creating and
# reading every log group of the account): write streams and events into Tributary's access log groups only.
# No logs:CreateLogGroup, so execution logs (off in serverless.yml: they can hold payloads) cannot be written
# even if someone turns them on.

data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    sid     = "ApiGatewayAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "api_gateway_cloudwatch" {
  statement {
    sid       = "PushAccessLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.api_access_log_groups_arn, "${local.api_access_log_groups_arn}:*"]
  }

  statement {
    sid       = "FindLogGroups"
    effect    = "Allow"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }
}

locals {
  # Every Tributary access log group of the account and region (/aws/api-gateway/tributary-<stage>), not only
  # this environment's: the account-level role serves every stage deployed in the account.
  api_access_log_groups_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/api-gateway/${var.service_name}-*"
}

resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name                 = "${local.prefix}-api-gateway-cloudwatch"
  description          = "API Gateway (account-level setting): writes Tributary's REST API access logs."
  assume_role_policy   = data.aws_iam_policy_document.api_gateway_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy" "api_gateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name   = "push-access-logs"
  role   = aws_iam_role.api_gateway_cloudwatch[0].id
  policy = data.aws_iam_policy_document.api_gateway_cloudwatch.json
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn

  # API Gateway checks the role when the setting changes: attach its policy first.
  depends_on = [aws_iam_role_policy.api_gateway_cloudwatch]
}
