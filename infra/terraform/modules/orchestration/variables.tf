variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "host" {
  description = "What every host shares; typed and described by the host module's `common`."
  type        = any
}

variable "dns_name" {
  description = "Name of the Prefect API in the private zone."
  type        = string
}

variable "port" {
  description = "Port of the Prefect API."
  type        = number
}

variable "tracking_port" {
  description = "Port of the MLflow server the flows track to."
  type        = number
}

variable "db_endpoint" {
  description = "PostgreSQL endpoint (host:port) of the Prefect server's database."
  type        = string
}

variable "db_secret_arn" {
  description = "Secret with the database credentials (managed by RDS)."
  type        = string
}

variable "client_cidr" {
  description = "Range allowed to reach the Prefect API (the VPC; people use SSM port forwarding)."
  type        = string
}

variable "role_name" {
  description = "IAM role of the Prefect host (from the identity module)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type: the worker trains models, so size it for `dvc repro`."
  type        = string
}

variable "volume_size_gb" {
  description = "Root volume (checkout, environment, DVC cache, Prefect database, logs)."
  type        = number
}

variable "work_pool" {
  description = "Prefect work pool of the deployments (prefect.yaml's work_pool.name)."
  type        = string
}
