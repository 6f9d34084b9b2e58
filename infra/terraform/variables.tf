variable "project" {
  description = "Prefix of every resource name."
  type        = string
  default     = "textclf"
}

variable "environment" {
  description = "Environment name: dev or prod (one state file and one tfvars file each)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "aws_region" {
  description = "Region of every resource."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Two (or more) zones of the region for the subnets."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]
}

variable "vpc_cidr" {
  description = "Address range of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub: the hosts clone it, its CI assumes the CI role."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like owner/name."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false if another stack already did."
  type        = bool
  default     = true
}

variable "git_ref" {
  description = "Branch the hosts check out and the deployments' pull step follows."
  type        = string
  default     = "main"
}

variable "uv_version" {
  description = "uv release installed on the hosts."
  type        = string
  default     = "0.13.9"
}

variable "tracking_instance_type" {
  description = "EC2 type of the MLflow host."
  type        = string
  default     = "t3.small"
}

variable "worker_instance_type" {
  description = "EC2 type of the Prefect host; the worker retrains, full IMDB peaks at 1.7 GiB."
  type        = string
  default     = "t3.large"
}

variable "volume_size_gb" {
  description = "Root volume of each host."
  type        = number
  default     = 30
}

variable "mlflow_workers" {
  description = "MLflow server worker processes."
  type        = number
  default     = 2
}

variable "db_instance_class" {
  description = "RDS instance class of MLflow's PostgreSQL."
  type        = string
  default     = "db.t4g.small"
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Standby database replica in a second zone."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Performance Insights on the database (7 days free); off where the class lacks it."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 14
}

variable "postgres_major_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "17"
}

variable "deletion_protection" {
  description = "Protect the database from deletion; set false before tearing an environment down."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` empty and delete the buckets (dev only)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps host logs and VPC flow logs."
  type        = number
  default     = 365
}

variable "noncurrent_version_days" {
  description = "Days S3 keeps overwritten or deleted object versions."
  type        = number
  default     = 90
}

variable "scored_retention_days" {
  description = "Days scored batches and their monitoring reports are kept."
  type        = number
  default     = 400
}

variable "incoming_retention_days" {
  description = "Days batch inputs are kept."
  type        = number
  default     = 400
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "work_pool" {
  description = "Prefect work pool of the deployments; must match prefect.yaml."
  type        = string
  default     = "ec2-process"
}

variable "serving_instance_type" {
  description = "EC2 type of the prediction-service host (2 vCPUs: one uvicorn worker each)."
  type        = string
  default     = "c7i.large"
}

variable "serve_workers" {
  description = "uvicorn workers of the prediction service (one per vCPU)."
  type        = number
  default     = 2
}

variable "predict_throttle_rate" {
  description = "Requests per second the prediction API lets through."
  type        = number
  default     = 200
}

variable "predict_throttle_burst" {
  description = "Burst of requests the prediction API lets through."
  type        = number
  default     = 400
}

variable "emr_release_label" {
  description = "EMR Serverless release of the batch Spark application: Spark 4.0 with Python 3.11, matching pyproject's pyspark extra."
  type        = string
  default     = "emr-spark-8.0.0"
}

variable "emr_max_vcpu" {
  description = "Most vCPUs the batch Spark job runs may use at once (the cost ceiling)."
  type        = number
  default     = 32
}

variable "emr_max_memory_gb" {
  description = "Most memory (GB) the batch Spark job runs may use at once."
  type        = number
  default     = 128
}

variable "emr_idle_timeout_minutes" {
  description = "Idle minutes after which the Spark application stops."
  type        = number
  default     = 15
}
