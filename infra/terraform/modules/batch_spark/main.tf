# Batch scoring on Spark when a batch outgrows one machine (batch.engine: emr-serverless): an
# EMR Serverless application that the Prefect worker starts job runs on (src/textclf/batch/emr.py),
# the role those job runs act as, and where their logs go.
#
# Everything a job run reads or writes is in the batch bucket: inputs (incoming/), outputs and the
# manifest (scored/), and under emr/ what the worker stages for it (its Python environment, the
# entry point and the champion model, copied there by the worker from MLflow), its result and logs.
# So the execution role needs no access to MLflow's bucket or any other.
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  staging  = "emr"
  log_uri  = "s3://${var.batch_bucket}/${local.staging}/logs/"
  app_arn  = aws_emrserverless_application.spark.arn
  job_arns = "${aws_emrserverless_application.spark.arn}/jobruns/*"
}

resource "aws_security_group" "spark" {
  #checkov:skip=CKV2_AWS_5:attached through the application's network_configuration, which the check does not follow
  name        = "${var.name}-spark"
  description = "EMR Serverless job runs: no inbound; outbound HTTPS only (S3 through the VPC endpoint, CloudWatch Logs)"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_cloudwatch_log_group" "spark" {
  name              = "/${var.name}-spark"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_emrserverless_application" "spark" {
  name          = "${var.name}-batch"
  release_label = var.release_label
  type          = "spark"
  architecture  = "X86_64"

  # A ceiling on what all job runs together may use at once, so a runaway batch has a bound cost.
  maximum_capacity {
    cpu    = "${var.max_vcpu} vCPU"
    memory = "${var.max_memory_gb} GB"
  }

  auto_start_configuration {
    enabled = true
  }

  # No capacity is kept warm: the application stops after this much idle time and costs nothing.
  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_timeout_minutes
  }

  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.spark.id]
  }

  monitoring_configuration {
    s3_monitoring_configuration {
      log_uri            = local.log_uri
      encryption_key_arn = var.kms_key_arn
    }
    cloudwatch_logging_configuration {
      enabled                = true
      log_group_name         = aws_cloudwatch_log_group.spark.name
      log_stream_name_prefix = "batch"
      encryption_key_arn     = var.kms_key_arn
    }
  }
}

# The job runs' role: the batch bucket's prefixes only.
data "aws_iam_policy_document" "job_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:emr-serverless:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:/applications/*"]
    }
  }
}

resource "aws_iam_role" "job" {
  name               = "${var.name}-spark-job"
  assume_role_policy = data.aws_iam_policy_document.job_assume.json
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "ListBatch"
    actions   = ["s3:ListBucket"]
    resources = [var.batch_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["incoming", "incoming/*", "scored", "scored/*", local.staging, "${local.staging}/*"]
    }
  }
  statement {
    sid     = "ReadInputsAndStaging"
    actions = ["s3:GetObject"]
    resources = [
      "${var.batch_bucket_arn}/incoming*",
      "${var.batch_bucket_arn}/scored*",
      "${var.batch_bucket_arn}/${local.staging}/*",
    ]
  }
  statement {
    # scored/: outputs, its _staging/ folder and the manifest; emr/: the run's result and logs
    sid     = "WriteOutputsResultsLogs"
    actions = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${var.batch_bucket_arn}/scored/*",
      "${var.batch_bucket_arn}/${local.staging}/runs/*",
      "${var.batch_bucket_arn}/${local.staging}/logs/*",
    ]
  }
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.spark.arn}:*"]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "batch-data"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

# The Prefect worker starts, watches and cancels job runs on this application, and hands them
# the job role (to this service only).
data "aws_iam_policy_document" "submit" {
  statement {
    sid       = "RunJobs"
    actions   = ["emr-serverless:GetApplication", "emr-serverless:StartJobRun", "emr-serverless:ListJobRuns", "emr-serverless:TagResource"]
    resources = [local.app_arn]
  }
  statement {
    sid       = "WatchJobs"
    actions   = ["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetDashboardForJobRun"]
    resources = [local.job_arns]
  }
  statement {
    sid       = "PassJobRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.job.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "submit" {
  name   = "emr-serverless-jobs"
  role   = var.worker_role_name
  policy = data.aws_iam_policy_document.submit.json
}
