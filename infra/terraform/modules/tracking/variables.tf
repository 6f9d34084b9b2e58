variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "host" {
  description = "What every host shares; typed and described by the host module's `common`."
  type        = any
}

variable "subnet_ids" {
  description = "Private subnets of the database (two zones at least)."
  type        = list(string)
}

variable "dns_name" {
  description = "Name of the MLflow server in the private zone."
  type        = string
}

variable "port" {
  description = "Port of the MLflow server."
  type        = number
}

variable "client_cidr" {
  description = "Range allowed to reach the MLflow server (the VPC; people use SSM port forwarding)."
  type        = string
}

variable "role_name" {
  description = "IAM role of the MLflow host (from the identity module)."
  type        = string
}

variable "artifact_bucket" {
  description = "Bucket that MLflow proxies artifacts to (under artifacts/)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the MLflow host."
  type        = string
}

variable "volume_size_gb" {
  description = "Root volume of the MLflow host."
  type        = number
}

variable "mlflow_workers" {
  description = "MLflow server worker processes."
  type        = number
}

variable "postgres_major_version" {
  description = "PostgreSQL major version (minor upgrades are automatic)."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage; autoscaling may grow it fivefold."
  type        = number
}

variable "db_multi_az" {
  description = "Standby replica in a second zone."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Performance Insights (7 days free); off where the class lacks it."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
}

variable "deletion_protection" {
  description = "Refuse to delete the database (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}
