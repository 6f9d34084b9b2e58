variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "account_id" {
  description = "AWS account id, appended to bucket names to make them globally unique."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the data buckets."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
}

variable "scored_retention_days" {
  description = "Days scored batch outputs and their monitoring reports are kept."
  type        = number
}

variable "incoming_retention_days" {
  description = "Days batch inputs are kept after upload."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete buckets that still hold objects (dev only)."
  type        = bool
}
