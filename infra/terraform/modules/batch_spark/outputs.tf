output "application_id" {
  description = "EMR Serverless application the batch flow runs the Spark job on (TEXTCLF_EMR_APPLICATION_ID)."
  value       = aws_emrserverless_application.spark.id
}

output "execution_role_arn" {
  description = "Role the job runs act as (TEXTCLF_EMR_EXECUTION_ROLE_ARN)."
  value       = aws_iam_role.job.arn
}

output "staging_url" {
  description = "Where the worker stages job environments, entry points and models (TEXTCLF_EMR_STAGING)."
  value       = "s3://${var.batch_bucket}/${local.staging}"
}
