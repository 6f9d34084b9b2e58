variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "release_label" {
  description = "EMR Serverless release: its Spark and Python must match the job's (pyproject's pyspark extra: Spark 4.0, Python 3.11)."
  type        = string
}

variable "max_vcpu" {
  description = "Most vCPUs all job runs together may use at once."
  type        = number
}

variable "max_memory_gb" {
  description = "Most memory (GB) all job runs together may use at once."
  type        = number
}

variable "idle_timeout_minutes" {
  description = "Idle minutes after which the application stops (and costs nothing)."
  type        = number
}

variable "vpc_id" {
  description = "VPC the job runs' network interfaces are in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the job runs (S3 through the VPC's gateway endpoint)."
  type        = list(string)
}

variable "batch_bucket" {
  description = "Name of the batch bucket (inputs, outputs, staging)."
  type        = string
}

variable "batch_bucket_arn" {
  description = "ARN of the batch bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the buckets and log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Days the job runs' CloudWatch logs are kept."
  type        = number
}

variable "worker_role_name" {
  description = "Role of the Prefect worker, which submits and watches job runs."
  type        = string
}
