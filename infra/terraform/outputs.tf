# `textclf infra settings` reads these (terraform output -json) and writes them into a
# checkout's .dvc/config.local and .stack/env.
output "environment" {
  description = "Environment of this state."
  value       = var.environment
}

output "aws_region" {
  description = "Region of every resource."
  value       = local.settings.aws_region
}

output "dvc_remote_url" {
  description = "URL of the DVC remote (`storage`)."
  value       = local.settings.dvc_remote_url
}

output "batch_input_url" {
  description = "Where batch-predict looks for new files (batch.input)."
  value       = local.settings.batch_input_url
}

output "batch_output_url" {
  description = "Where batch-predict writes scored files and reports (batch.output)."
  value       = local.settings.batch_output_url
}

output "labelled_input_url" {
  description = "Where new labelled files land for retraining (retrain.labelled_input)."
  value       = local.settings.labelled_input_url
}

output "mlflow_tracking_uri" {
  description = "MLflow tracking URI inside the VPC."
  value       = local.settings.mlflow_tracking_uri
}

output "prefect_api_url" {
  description = "Prefect API URL inside the VPC."
  value       = local.settings.prefect_api_url
}

output "emr_application_id" {
  description = "EMR Serverless application of batch.engine emr-serverless."
  value       = local.settings.emr_application_id
}

output "emr_execution_role_arn" {
  description = "Role the Spark job runs act as."
  value       = local.settings.emr_execution_role_arn
}

output "emr_staging_url" {
  description = "Where the worker stages the Spark job (environment, entry point, model) and finds its results and logs."
  value       = local.settings.emr_staging_url
}

output "dvc_bucket" {
  description = "Bucket of the DVC remote."
  value       = module.storage.dvc_bucket
}

output "mlflow_bucket" {
  description = "Bucket of MLflow's artifacts."
  value       = module.storage.mlflow_bucket
}

output "batch_bucket" {
  description = "Bucket of batch inputs and outputs."
  value       = module.storage.batch_bucket
}

output "ci_role_arn" {
  description = "Role for GitHub Actions (repository variable AWS_CI_ROLE_ARN)."
  value       = module.identity.ci_role_arn
}

output "tracking_role_arn" {
  description = "Role of the MLflow host."
  value       = module.identity.tracking_role_arn
}

output "worker_role_arn" {
  description = "Role of the Prefect host."
  value       = module.identity.worker_role_arn
}

output "mlflow_instance_id" {
  description = "MLflow host, for `aws ssm start-session` port forwarding."
  value       = module.tracking.instance_id
}

output "prefect_instance_id" {
  description = "Prefect host, for `aws ssm start-session` port forwarding."
  value       = module.orchestration.instance_id
}

output "mlflow_log_group" {
  description = "CloudWatch logs of the MLflow host."
  value       = module.tracking.log_group
}

output "prefect_log_group" {
  description = "CloudWatch logs of the Prefect host."
  value       = module.orchestration.log_group
}

output "github_token_secret_arn" {
  description = "Secret holding the GitHub token retraining opens pull requests with."
  value       = module.orchestration.github_token_secret_arn
}

output "db_secret_arn" {
  description = "Secret holding the database credentials (managed and rotated by RDS)."
  value       = module.tracking.db_secret_arn
}

output "predict_url" {
  description = "The online prediction service inside the VPC."
  value       = module.serving.url
}

output "predict_api_url" {
  description = "The prediction service from outside: IAM-signed requests (SigV4, execute-api)."
  value       = module.serving.api_url
}

output "predict_invoke_policy_arn" {
  description = "Attach to a role or user to let it call the prediction API."
  value       = module.serving.invoke_policy_arn
}
