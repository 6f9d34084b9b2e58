# Orchestration: one host running the Prefect server (API, schedules, UI; SQLite on the host's
# encrypted volume), a oneshot unit that creates the work pool and the deployments of
# prefect.yaml, and the process worker that runs the scheduled flows from the host's checkout.
locals {
  units = ["prefect-server.service", "textclf-deploy.service", "prefect-worker.service"]
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
  }
  units = {
    for unit in local.units : unit => templatefile("${path.module}/templates/${unit}.tftpl", {
      service_user = var.host.service_user
      textclf_home = var.host.textclf_home
      prefect_home = "/var/lib/${var.host.service_user}/prefect"
      work_pool    = var.work_pool
      port         = var.port
    })
  }
  enable_units = local.units
}
