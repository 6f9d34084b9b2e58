variable "name" {
  description = "Name of the host and of its security group, profile and log group."
  type        = string
}

variable "description" {
  description = "What runs on the host."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
}

variable "volume_size_gb" {
  description = "Root volume size (checkout, environment, DVC cache, logs)."
  type        = number
}

variable "role_name" {
  description = "IAM role of the host (its data access comes from the identity module)."
  type        = string
}

variable "dns_name" {
  description = "Host name inside the zone, e.g. mlflow."
  type        = string
}

variable "ingress" {
  description = "Rule description => port and source range allowed in."
  type        = map(object({ port = number, cidr = string }))
  default     = {}
}

variable "egress" {
  description = "Rule description => port and destination range allowed out, besides HTTPS."
  type        = map(object({ port = number, cidr = string }))
  default     = {}
}

variable "readable_secret_arns" {
  description = "Secrets Manager secrets the host's services read at start (none: no policy)."
  type        = list(string)
  default     = []
}

variable "units" {
  description = "systemd unit file name => rendered content; each logs to /var/log/textclf/<name>.log."
  type        = map(string)
}

variable "enable_units" {
  description = "Units to enable and start once the environment is installed."
  type        = list(string)
}

variable "common" {
  description = "What every host of an environment shares (built once in the root module)."
  type = object({
    vpc_id             = string      # VPC of the hosts
    subnet_id          = string      # private subnet of the hosts
    kms_key_arn        = string      # key of root volumes and log groups
    log_retention_days = number      # days logs are kept in CloudWatch
    dns_zone_id        = string      # private hosted zone of host names
    dns_zone           = string      # its name
    repo_url           = string      # git URL the hosts clone
    git_ref            = string      # branch they check out (the deployments' pull step follows it)
    textclf_home       = string      # path of the checkout
    service_user       = string      # unprivileged owner of the checkout, runs the services
    uv_version         = string      # uv release installed (uv.lock pins everything else)
    settings           = map(string) # repository settings (textclf infra settings --outputs)
  })
}
