# One environment of textclf in AWS: storage, identity, network, MLflow tracking, Prefect
# orchestration, the online prediction service and batch scoring on Spark (EMR Serverless). Choose the environment with the backend and tfvars files in envs/.
data "aws_caller_identity" "current" {}

locals {
  name = "${var.project}-${var.environment}"
}

module "kms" {
  source = "./modules/kms"
  name   = local.name
}

module "storage" {
  source                    = "./modules/storage"
  name                      = local.name
  account_id                = data.aws_caller_identity.current.account_id
  kms_key_arn               = module.kms.key_arn
  noncurrent_version_days   = var.noncurrent_version_days
  scored_retention_days     = var.scored_retention_days
  incoming_retention_days   = var.incoming_retention_days
  access_log_retention_days = var.access_log_retention_days
  force_destroy             = var.force_destroy_buckets
}

module "identity" {
  source                      = "./modules/identity"
  name                        = local.name
  bucket_arns                 = module.storage.bucket_arns
  kms_key_arn                 = module.kms.key_arn
  github_repository           = var.github_repository
  create_github_oidc_provider = var.create_github_oidc_provider
}

module "network" {
  source             = "./modules/network"
  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  dns_zone           = "${local.name}.internal"
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
}

locals {
  # Each server's name in the private zone and its port.
  servers = {
    mlflow  = { dns_name = "mlflow", port = 5000 }
    prefect = { dns_name = "prefect", port = 4200 }
    predict = { dns_name = "predict", port = 8000 }
  }
  mlflow_tracking_uri = "http://${local.servers.mlflow.dns_name}.${module.network.dns_zone}:${local.servers.mlflow.port}"
  prefect_api_url     = "http://${local.servers.prefect.dns_name}.${module.network.dns_zone}:${local.servers.prefect.port}/api"

  # What `textclf infra settings` writes into a checkout; the hosts get the same values.
  settings = {
    aws_region          = var.aws_region
    dvc_remote_url      = "s3://${module.storage.dvc_bucket}/dvcstore"
    batch_input_url     = "s3://${module.storage.batch_bucket}/incoming"
    batch_output_url    = "s3://${module.storage.batch_bucket}/scored"
    labelled_input_url  = "s3://${module.storage.batch_bucket}/labelled"
    mlflow_tracking_uri = local.mlflow_tracking_uri
    prefect_api_url     = local.prefect_api_url
    # batch.engine emr-serverless: where the worker runs the Spark job
    emr_application_id     = module.batch_spark.application_id
    emr_execution_role_arn = module.batch_spark.execution_role_arn
    emr_staging_url        = module.batch_spark.staging_url
  }

  host = {
    vpc_id             = module.network.vpc_id
    subnet_id          = module.network.private_subnet_ids[0]
    kms_key_arn        = module.kms.key_arn
    log_retention_days = var.log_retention_days
    dns_zone_id        = module.network.dns_zone_id
    dns_zone           = module.network.dns_zone
    repo_url           = "https://github.com/${var.github_repository}.git"
    git_ref            = var.git_ref
    textclf_home       = "/var/lib/textclf/repo"
    service_user       = "textclf"
    uv_version         = var.uv_version
    settings           = local.settings
  }
}

module "tracking" {
  source                   = "./modules/tracking"
  name                     = local.name
  host                     = local.host
  dns_name                 = local.servers.mlflow.dns_name
  port                     = local.servers.mlflow.port
  subnet_ids               = module.network.private_subnet_ids
  client_cidr              = module.network.vpc_cidr
  role_name                = module.identity.tracking_role_name
  artifact_bucket          = module.storage.mlflow_bucket
  instance_type            = var.tracking_instance_type
  volume_size_gb           = var.volume_size_gb
  mlflow_workers           = var.mlflow_workers
  postgres_major_version   = var.postgres_major_version
  db_instance_class        = var.db_instance_class
  db_allocated_storage_gb  = var.db_allocated_storage_gb
  db_multi_az              = var.db_multi_az
  db_backup_retention_days = var.db_backup_retention_days
  db_performance_insights  = var.db_performance_insights
  deletion_protection      = var.deletion_protection
}

module "orchestration" {
  source         = "./modules/orchestration"
  name           = local.name
  host           = local.host
  dns_name       = local.servers.prefect.dns_name
  port           = local.servers.prefect.port
  tracking_port  = local.servers.mlflow.port
  db_endpoint    = module.tracking.db_endpoint
  db_secret_arn  = module.tracking.db_secret_arn
  client_cidr    = module.network.vpc_cidr
  role_name      = module.identity.worker_role_name
  instance_type  = var.worker_instance_type
  volume_size_gb = var.volume_size_gb
  work_pool      = var.work_pool
}

module "serving" {
  source         = "./modules/serving"
  name           = local.name
  host           = local.host
  dns_name       = local.servers.predict.dns_name
  port           = local.servers.predict.port
  workers        = var.serve_workers
  tracking_port  = local.servers.mlflow.port
  client_cidr    = module.network.vpc_cidr
  subnet_ids     = module.network.private_subnet_ids
  role_name      = module.identity.serving_role_name
  instance_type  = var.serving_instance_type
  volume_size_gb = var.volume_size_gb
  throttle_rate  = var.predict_throttle_rate
  throttle_burst = var.predict_throttle_burst
}

module "batch_spark" {
  source               = "./modules/batch_spark"
  name                 = local.name
  release_label        = var.emr_release_label
  max_vcpu             = var.emr_max_vcpu
  max_memory_gb        = var.emr_max_memory_gb
  idle_timeout_minutes = var.emr_idle_timeout_minutes
  vpc_id               = module.network.vpc_id
  subnet_ids           = module.network.private_subnet_ids
  batch_bucket         = module.storage.batch_bucket
  batch_bucket_arn     = module.storage.bucket_arns["batch"]
  kms_key_arn          = module.kms.key_arn
  log_retention_days   = var.log_retention_days
  worker_role_name     = module.identity.worker_role_name
}
