output "instance_id" {
  description = "Prefect host (target of SSM port forwarding to port 4200)."
  value       = module.host.instance_id
}

output "log_group" {
  description = "CloudWatch log group of the Prefect host."
  value       = module.host.log_group
}

output "github_token_secret_arn" {
  description = "Secret the worker reads GITHUB_TOKEN from (its value is put by hand)."
  value       = aws_secretsmanager_secret.github_token.arn
}
