# The project's buckets: the DVC remote, MLflow's artifact store and the batch input/output,
# plus the bucket that receives their access logs.
locals {
  # purpose => (name suffix, prefixes whose objects expire after N days)
  buckets = {
    dvc    = { expire = {} }
    mlflow = { expire = {} }
    batch  = { expire = { "scored/" = var.scored_retention_days, "incoming/" = var.incoming_retention_days } }
  }
}

module "access_logs" {
  source                  = "../bucket"
  bucket_name             = "${var.name}-access-logs-${var.account_id}"
  account_id              = var.account_id
  log_delivery            = true
  noncurrent_version_days = var.noncurrent_version_days
  expire_prefixes         = { "" = var.access_log_retention_days }
  force_destroy           = var.force_destroy
}

module "bucket" {
  for_each                = local.buckets
  source                  = "../bucket"
  bucket_name             = "${var.name}-${each.key}-${var.account_id}"
  account_id              = var.account_id
  kms_key_arn             = var.kms_key_arn
  access_log_bucket       = module.access_logs.name
  noncurrent_version_days = var.noncurrent_version_days
  expire_prefixes         = each.value.expire
  force_destroy           = var.force_destroy
}
