variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "bucket_arns" {
  description = "Purpose (dvc, mlflow, batch) => bucket ARN."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key the buckets are encrypted with."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may assume the CI role."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (false when it already exists)."
  type        = bool
}
