output "url" {
  description = "The service inside the VPC."
  value       = "http://${var.dns_name}.${var.host.dns_zone}:${var.port}"
}

output "api_url" {
  description = "The service from outside the VPC: IAM-signed (SigV4, service execute-api) requests only."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "invoke_policy_arn" {
  description = "Managed policy that lets a role or user call the API."
  value       = aws_iam_policy.invoke.arn
}
