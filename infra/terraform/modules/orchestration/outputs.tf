output "instance_id" {
  description = "Prefect host (target of SSM port forwarding to port 4200)."
  value       = module.host.instance_id
}

output "log_group" {
  description = "CloudWatch log group of the Prefect host."
  value       = module.host.log_group
}
