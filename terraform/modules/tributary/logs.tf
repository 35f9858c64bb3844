# One log group per function, created here (serverless.yml sets disableLogs: true on every function
# so it does not try to create them again), with retention and KMS encryption.

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
}

# The REST API's access log group. Serverless v3 always sends API Gateway access logs to
# /aws/api-gateway/<service>-<stage> and would create that group itself, without KMS; serverless.yml keeps its
# copy out of the stack (resources.extensions ApiGatewayLogGroup: Condition NeverCreate), so it is created
# here like the function log groups. One JSON line per request, ids and metadata only (format in
# serverless.yml), including requests API Gateway refuses before any function runs.
resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/api-gateway/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
}
