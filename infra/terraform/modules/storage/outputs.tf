output "dvc_bucket" {
  description = "Bucket of the DVC remote."
  value       = module.bucket["dvc"].name
}

output "mlflow_bucket" {
  description = "Bucket of MLflow's artifact store."
  value       = module.bucket["mlflow"].name
}

output "batch_bucket" {
  description = "Bucket of batch inputs (incoming/) and scored outputs (scored/)."
  value       = module.bucket["batch"].name
}

output "bucket_arns" {
  description = "Purpose (dvc, mlflow, batch) => bucket ARN."
  value       = { for purpose, bucket in module.bucket : purpose => bucket.arn }
}
