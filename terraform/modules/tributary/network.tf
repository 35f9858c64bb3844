# Optional private API: an execute-api interface endpoint, for API Gateway endpointType PRIVATE
# (serverless.yml then sets provider.endpointType: PRIVATE and vpcEndpointIds from SSM).

resource "aws_security_group" "execute_api" {
  count = var.private_api ? 1 : 0

  name        = "${local.prefix}-execute-api"
  description = "HTTPS to the Tributary private API endpoint"
  vpc_id      = var.vpc_id

  ingress {
    description = "HTTPS from allowed networks"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = var.private_api_allowed_cidrs
  }

  lifecycle {
    precondition {
      condition     = var.vpc_id != null && length(var.subnet_ids) > 0 && length(var.private_api_allowed_cidrs) > 0
      error_message = "private_api = true needs vpc_id, subnet_ids and private_api_allowed_cidrs."
    }
  }
}

resource "aws_vpc_endpoint" "execute_api" {
  count = var.private_api ? 1 : 0

  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${local.region}.execute-api"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.execute_api[0].id]
}
