variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "cidr_block" {
  description = "Address range of the VPC (a /16; subnets are /24s carved from it)."
  type        = string
}

variable "availability_zones" {
  description = "Zones of the subnets, named so they never move (RDS needs at least two)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "dns_zone" {
  description = "Private DNS zone of the servers, e.g. textclf-dev.internal."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days flow logs are kept."
  type        = number
}
