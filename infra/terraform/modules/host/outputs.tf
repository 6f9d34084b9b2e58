output "instance_id" {
  description = "EC2 instance id (target of `aws ssm start-session`)."
  value       = aws_instance.this.id
}

output "fqdn" {
  description = "Private DNS name of the host."
  value       = "${var.dns_name}.${var.common.dns_zone}"
}

output "security_group_id" {
  description = "Security group of the host."
  value       = aws_security_group.this.id
}

output "log_group" {
  description = "CloudWatch log group of the host's services."
  value       = aws_cloudwatch_log_group.this.name
}

output "private_ip" {
  description = "Private address of the host."
  value       = aws_instance.this.private_ip
}
