# The online prediction service: one host running `textclf serve` (the registry's champion,
# followed as the alias moves), reachable inside the VPC by name (predict.<zone>), and from
# outside through an API Gateway HTTP API that only signed requests (IAM, SigV4) get through:
# callers need execute-api:Invoke on it (the invoke policy below), no keys live in the service.
# The API reaches the host over a VPC link and Cloud Map, so no load balancer is needed for
# one host, and the host keeps no public address.
data "aws_region" "current" {}

locals {
  unit = "textclf-serve.service"
}

module "host" {
  source         = "../host"
  common         = var.host
  name           = "${var.name}-serve"
  description    = "online prediction service"
  instance_type  = var.instance_type
  volume_size_gb = var.volume_size_gb
  role_name      = var.role_name
  dns_name       = var.dns_name
  ingress        = { "Predictions from the VPC (clients, the API's VPC link)" = { port = var.port, cidr = var.client_cidr } }
  egress         = { "MLflow tracking server in the VPC" = { port = var.tracking_port, cidr = var.client_cidr } }
  units = {
    (local.unit) = templatefile("${path.module}/templates/${local.unit}.tftpl", {
      service_user = var.host.service_user
      textclf_home = var.host.textclf_home
      port         = var.port
      workers      = var.workers
    })
  }
  enable_units = [local.unit]
}

# How the API finds the host: a Cloud Map service with the host's address and port.
resource "aws_service_discovery_http_namespace" "this" {
  name        = "${var.name}-serve"
  description = "textclf prediction service, for the API's VPC link"
}

resource "aws_service_discovery_service" "this" {
  name         = "predict"
  namespace_id = aws_service_discovery_http_namespace.this.id
}

resource "aws_service_discovery_instance" "this" {
  instance_id = module.host.instance_id
  service_id  = aws_service_discovery_service.this.id
  attributes = {
    AWS_INSTANCE_IPV4 = module.host.private_ip
    AWS_INSTANCE_PORT = tostring(var.port)
  }
}

resource "aws_security_group" "vpc_link" {
  name        = "${var.name}-serve-link"
  description = "${var.name}: API Gateway VPC link to the prediction service"
  vpc_id      = var.host.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "vpc_link" {
  security_group_id = aws_security_group.vpc_link.id
  description       = "To the prediction service"
  cidr_ipv4         = var.client_cidr
  ip_protocol       = "tcp"
  from_port         = var.port
  to_port           = var.port
}

resource "aws_apigatewayv2_vpc_link" "this" {
  name               = "${var.name}-serve"
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.vpc_link.id]
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name}-predict"
  description   = "textclf predictions; IAM-signed requests only"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "this" {
  api_id             = aws_apigatewayv2_api.this.id
  integration_type   = "HTTP_PROXY"
  integration_method = "ANY"
  connection_type    = "VPC_LINK"
  connection_id      = aws_apigatewayv2_vpc_link.this.id
  integration_uri    = aws_service_discovery_service.this.arn
}

resource "aws_apigatewayv2_route" "this" {
  for_each           = toset(["ANY /{proxy+}", "GET /"])
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.this.id}"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/${var.name}-predict-api"
  retention_in_days = var.host.log_retention_days
  kms_key_id        = var.host.kms_key_arn
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.throttle_rate
    throttling_burst_limit = var.throttle_burst
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId = "$context.requestId", caller = "$context.identity.caller", route = "$context.routeKey",
      status    = "$context.status", latency = "$context.integrationLatency", time = "$context.requestTime"
    })
  }
}

# Attach to the roles (or users) that may call the API from outside the VPC.
data "aws_iam_policy_document" "invoke" {
  statement {
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_apigatewayv2_api.this.execution_arn}/*"]
  }
}

resource "aws_iam_policy" "invoke" {
  name        = "${var.name}-predict-invoke"
  description = "Call the textclf prediction API (${data.aws_region.current.region})"
  policy      = data.aws_iam_policy_document.invoke.json
}
