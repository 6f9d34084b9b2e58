output "instance_id" {
  description = "MLflow host (target of SSM port forwarding to port 5000)."
  value       = module.host.instance_id
}

output "db_endpoint" {
  description = "PostgreSQL endpoint (host:port)."
  value       = aws_db_instance.this.endpoint
}

output "db_secret_arn" {
  description = "Secrets Manager secret that RDS keeps the master credentials in."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "log_group" {
  description = "CloudWatch log group of the MLflow host."
  value       = module.host.log_group
}
