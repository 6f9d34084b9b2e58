variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null for SSE-S3 (required for a server access log bucket)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's server access logs; null for the log bucket itself."
  type        = string
  default     = null
}

variable "log_delivery" {
  description = "Whether this is the log bucket (lets the S3 logging service write to it)."
  type        = bool
  default     = false
}

variable "account_id" {
  description = "This account, the only one whose buckets may deliver logs here."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted object version is kept."
  type        = number
  default     = 90
}

variable "expire_prefixes" {
  description = "Prefix => days after which current objects under it expire (e.g. scored batches)."
  type        = map(number)
  default     = {}
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds objects."
  type        = bool
  default     = false
}
