# One log group per function, created here (serverless.yml sets disableLogs: true on every function
# so it does not try to create them again), with retention and KMS encryption.

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${local.prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
}

# The log groups of services other than Lambda, one instance per entry of local.service_log_groups, each with
# retention and the logs key like the function log groups:
# - api_access: the REST API's access log group. Serverless v3 always sends API Gateway access logs to
#   /aws/api-gateway/<service>-<stage> and would create that group itself, without KMS; serverless.yml keeps its
#   copy out of the stack (resources.extensions ApiGatewayLogGroup: Condition NeverCreate), so it is created here
#   like the function log groups. One JSON line per request, ids and metadata only (format in serverless.yml),
#   including requests API Gateway refuses before any function runs. (It was aws_cloudwatch_log_group.api_access:
#   moved.tf carries it here.)
# - import_state_machine: the bulk import state machine's execution log (import.tf): errors only, without
#   execution data. Step Functions delivers it as a vended log; a name under /aws/vendedlogs/ keeps the log
#   delivery's resource policy small.
locals {
  service_log_groups = {
    api_access           = "/aws/api-gateway/${local.prefix}"
    import_state_machine = "/aws/vendedlogs/states/${local.prefix}-import"
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.service_log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this["logs"].arn
}
