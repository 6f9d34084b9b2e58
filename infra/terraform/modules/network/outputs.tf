output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "VPC address range."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Private subnets (hosts and database), one per zone."
  value       = aws_subnet.private[*].id
}

output "dns_zone_id" {
  description = "Private hosted zone id."
  value       = aws_route53_zone.private.zone_id
}

output "dns_zone" {
  description = "Private hosted zone name."
  value       = aws_route53_zone.private.name
}
