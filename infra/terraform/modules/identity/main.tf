# Who may do what: one role per host kind, each limited to its own buckets and prefixes, and
# the role GitHub Actions assumes by OIDC (no stored keys), limited to this repository's pull
# requests and main branch.
data "aws_partition" "current" {}

locals {
  # role => bucket purpose => what the role may do under which prefixes. Grants cover the
  # prefix's bare name too ("incoming", not only "incoming/..."): s3fs and DVC probe it with
  # HEAD and list requests, and a 403 there fails the listing instead of reading "not found".
  access = {
    tracking = {
      mlflow = { read = ["artifacts/"], write = ["artifacts/"] }
    }
    worker = {
      # emr/: the Spark job's staging (environment, entry point, model) and its results
      batch = { read = ["incoming/", "labelled/", "scored/", "emr/"], write = ["scored/", "emr/"] }
      dvc   = { read = ["dvcstore/"], write = ["dvcstore/"] }
    }
    ci = {
      dvc = { read = ["dvcstore/"], write = [] }
    }
  }
}

data "aws_iam_policy_document" "data_access" {
  for_each = local.access

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = "List${title(statement.key)}"
      actions   = ["s3:ListBucket"]
      resources = [var.bucket_arns[statement.key]]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = flatten([for prefix in statement.value.read : [trimsuffix(prefix, "/"), "${prefix}*"]])
      }
    }
  }

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = "Read${title(statement.key)}"
      actions   = ["s3:GetObject"]
      resources = [for prefix in statement.value.read : "${var.bucket_arns[statement.key]}/${trimsuffix(prefix, "/")}*"]
    }
  }

  dynamic "statement" {
    for_each = { for purpose, grant in each.value : purpose => grant if length(grant.write) > 0 }
    content {
      sid       = "Write${title(statement.key)}"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = [for prefix in statement.value.write : "${var.bucket_arns[statement.key]}/${trimsuffix(prefix, "/")}*"]
    }
  }

  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# The serving host reads models through the MLflow server (its artifacts are proxied), so its
# role has no data access of its own: only what the host module gives every host.
resource "aws_iam_role" "host" {
  for_each           = toset(["tracking", "worker", "serving"])
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy" "host_data" {
  for_each = { for kind, role in aws_iam_role.host : kind => role if contains(keys(local.access), kind) }
  name     = "data-access"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.data_access[each.key].json
}

# GitHub Actions OIDC. An account holds one provider per URL; reuse it when it already exists.
resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_github_oidc_provider ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_github_oidc_provider ? 0 : 1
  url   = "https://token.actions.githubusercontent.com"
}

locals {
  github_provider_arn = one(concat(aws_iam_openid_connect_provider.github[*].arn, data.aws_iam_openid_connect_provider.github[*].arn))
}

data "aws_iam_policy_document" "ci_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:pull_request",
        "repo:${var.github_repository}:ref:refs/heads/main",
      ]
    }
  }
}

resource "aws_iam_role" "ci" {
  name                 = "${var.name}-github-ci"
  assume_role_policy   = data.aws_iam_policy_document.ci_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "ci_data" {
  name   = "data-access"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.data_access["ci"].json
}
