# Once per AWS account, before any environment: the bucket that holds every environment's
# Terraform state (versioned, encrypted, locked with S3 lock files). Its own state is local:
# keep bootstrap/terraform.tfstate safe, or import the two buckets if it is ever lost.
terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

module "kms" {
  source = "../modules/kms"
  name   = "${var.project}-tfstate"
}

module "state_access_logs" {
  source       = "../modules/bucket"
  bucket_name  = "${var.project}-tfstate-logs-${data.aws_caller_identity.current.account_id}"
  account_id   = data.aws_caller_identity.current.account_id
  log_delivery = true
}

module "state" {
  source            = "../modules/bucket"
  bucket_name       = "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}"
  account_id        = data.aws_caller_identity.current.account_id
  kms_key_arn       = module.kms.key_arn
  access_log_bucket = module.state_access_logs.name
  # State history is how a bad apply is rolled back: keep old versions for a year.
  noncurrent_version_days = 365
}
