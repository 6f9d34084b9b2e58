variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "host" {
  description = "What every host of the environment shares (the host module's common)."
  type = object({
    vpc_id             = string
    subnet_id          = string
    kms_key_arn        = string
    log_retention_days = number
    dns_zone_id        = string
    dns_zone           = string
    repo_url           = string
    git_ref            = string
    textclf_home       = string
    service_user       = string
    uv_version         = string
    settings           = map(string)
  })
}

variable "dns_name" {
  description = "Name of the service in the private zone, e.g. predict."
  type        = string
}

variable "port" {
  description = "Port the service listens on."
  type        = number
}

variable "workers" {
  description = "uvicorn worker processes (one per core)."
  type        = number
}

variable "tracking_port" {
  description = "Port of the MLflow server, which the service loads models through."
  type        = number
}

variable "client_cidr" {
  description = "Range allowed to call the service directly (the VPC)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the API's VPC link."
  type        = list(string)
}

variable "role_name" {
  description = "IAM role of the host."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the host."
  type        = string
}

variable "volume_size_gb" {
  description = "Root volume size."
  type        = number
}

variable "throttle_rate" {
  description = "Requests per second the API lets through (steady state)."
  type        = number
}

variable "throttle_burst" {
  description = "Requests the API lets through in a burst."
  type        = number
}
