output "tracking_role_name" {
  description = "Role of the MLflow host."
  value       = aws_iam_role.host["tracking"].name
}

output "worker_role_name" {
  description = "Role of the Prefect host (server and worker)."
  value       = aws_iam_role.host["worker"].name
}

output "tracking_role_arn" {
  description = "ARN of the MLflow host's role."
  value       = aws_iam_role.host["tracking"].arn
}

output "worker_role_arn" {
  description = "ARN of the Prefect host's role."
  value       = aws_iam_role.host["worker"].arn
}

output "ci_role_arn" {
  description = "ARN of the role GitHub Actions assumes (vars.AWS_CI_ROLE_ARN)."
  value       = aws_iam_role.ci.arn
}

output "serving_role_name" {
  description = "Role of the prediction-service host."
  value       = aws_iam_role.host["serving"].name
}
