# Orchestration: one host running the Prefect server (API, schedules, UI; its database on the
# tracking module's RDS instance, so runs and schedules outlive the host), a oneshot unit that
# creates the work pool and the deployments of prefect.yaml, and the process worker that runs
# the scheduled flows from the host's checkout.
data "aws_region" "current" {}

locals {
  units = ["prefect-server.service", "textclf-deploy.service", "prefect-worker.service"]
}

# The token retraining opens pull requests with (fine-grained, on this repository only:
# contents and pull requests, read and write). Terraform creates the secret, never its value:
# put it with `aws secretsmanager put-secret-value` (README: AWS). The worker reads it at start.
resource "aws_secretsmanager_secret" "github_token" {
  #checkov:skip=CKV2_AWS_57:GitHub issues the token and sets its expiry; it is rotated there, then put here
  name                    = "${var.name}-github-token"
  description             = "GitHub token for retraining pull requests (textclf)"
  kms_key_id              = var.host.kms_key_arn
  recovery_window_in_days = 7
}

module "host" {
  source         = "../host"
  common         = var.host
  name           = "${var.name}-prefect"
  description    = "Prefect server and process worker"
  instance_type  = var.instance_type
  volume_size_gb = var.volume_size_gb
  role_name      = var.role_name
  dns_name       = var.dns_name
  ingress        = { "Prefect API from the private subnets" = { port = var.port, cidr = var.client_cidr } }
  egress = {
    "MLflow tracking server in the VPC"              = { port = var.tracking_port, cidr = var.client_cidr }
    "Prefect API (own name resolves to own address)" = { port = var.port, cidr = var.client_cidr }
    "PostgreSQL (RDS) in the VPC"                    = { port = 5432, cidr = var.client_cidr }
  }
  readable_secret_arns = [var.db_secret_arn, aws_secretsmanager_secret.github_token.arn]
  units = {
    for unit in local.units : unit => templatefile("${path.module}/templates/${unit}.tftpl", {
      service_user            = var.host.service_user
      textclf_home            = var.host.textclf_home
      prefect_home            = "/var/lib/${var.host.service_user}/prefect"
      aws_region              = data.aws_region.current.region
      db_secret_arn           = var.db_secret_arn
      github_token_secret_arn = aws_secretsmanager_secret.github_token.arn
      db_endpoint             = var.db_endpoint
      work_pool               = var.work_pool
      port                    = var.port
    })
  }
  enable_units = local.units
}
