# One log group per function, created here (serverless.yml sets disableLogs: true on every function
# so it does not try to create them again), with retention and KMS encryption.

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}
