# One EC2 host running textclf services as systemd units: a checkout of the repository at
# textclf_home with the environment from uv.lock, IMDSv2 only, reached by SSM Session Manager
# (no SSH, no public address), logs shipped to CloudWatch.
data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]
  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }
}

data "aws_partition" "current" {}

locals {
  log_dir       = "/var/log/textclf"
  settings_file = "/etc/textclf/settings.json"

  cloudwatch_agent = {
    agent = { run_as_user = "root" }
    logs = {
      logs_collected = {
        files = {
          collect_list = concat(
            [for unit in keys(var.units) : {
              file_path       = "${local.log_dir}/${trimsuffix(unit, ".service")}.log"
              log_group_name  = aws_cloudwatch_log_group.this.name
              log_stream_name = "{instance_id}/${trimsuffix(unit, ".service")}"
            }],
            [{
              file_path       = "/var/log/cloud-init-output.log"
              log_group_name  = aws_cloudwatch_log_group.this.name
              log_stream_name = "{instance_id}/cloud-init"
            }],
          )
        }
      }
    }
  }

  files = merge(
    { for file, body in var.units : "/etc/systemd/system/${file}" => { content = body, permissions = "0644" } },
    {
      (local.settings_file) = { content = jsonencode(var.common.settings), permissions = "0640" }
      "/opt/aws/amazon-cloudwatch-agent/etc/textclf.json" = {
        content = jsonencode(local.cloudwatch_agent), permissions = "0644"
      }
      "/etc/logrotate.d/textclf" = {
        content     = templatefile("${path.module}/templates/logrotate.tftpl", { log_dir = local.log_dir })
        permissions = "0644"
      }
      "/usr/local/sbin/textclf-bootstrap" = {
        permissions = "0755"
        content = templatefile("${path.module}/templates/bootstrap.sh.tftpl", {
          repo_url      = var.common.repo_url
          git_ref       = var.common.git_ref
          textclf_home  = var.common.textclf_home
          service_user  = var.common.service_user
          uv_version    = var.common.uv_version
          log_dir       = local.log_dir
          settings_file = local.settings_file
          services      = join(" ", var.enable_units)
        })
      }
    },
  )

  user_data = join("\n", ["#cloud-config", yamlencode({
    write_files = [for path, file in local.files : { path = path, content = file.content, permissions = file.permissions }]
    runcmd      = [["/usr/local/sbin/textclf-bootstrap"]]
  })])
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/${var.name}"
  retention_in_days = var.common.log_retention_days
  kms_key_id        = var.common.kms_key_arn
}

resource "aws_security_group" "this" {
  name        = var.name
  description = "${var.name}: ${var.description}"
  vpc_id      = var.common.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS: package index, GitHub, AWS APIs (SSM, CloudWatch, Secrets Manager)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "extra" {
  for_each          = var.egress
  security_group_id = aws_security_group.this.id
  description       = each.key
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each          = var.ingress
  security_group_id = aws_security_group.this.id
  description       = each.key
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = var.role_name
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = var.role_name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "write-logs"
  role   = var.role_name
  policy = data.aws_iam_policy_document.logs.json
}

data "aws_iam_policy_document" "secrets" {
  count = length(var.readable_secret_arns) > 0 ? 1 : 0
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.readable_secret_arns
  }
}

resource "aws_iam_role_policy" "secrets" {
  count  = length(var.readable_secret_arns) > 0 ? 1 : 0
  name   = "read-secrets"
  role   = var.role_name
  policy = data.aws_iam_policy_document.secrets[0].json
}

resource "aws_instance" "this" {
  ami                         = data.aws_ami.al2023.id
  instance_type               = var.instance_type
  subnet_id                   = var.common.subnet_id
  vpc_security_group_ids      = [aws_security_group.this.id]
  iam_instance_profile        = aws_iam_instance_profile.this.name
  associate_public_ip_address = false
  monitoring                  = true
  ebs_optimized               = true
  user_data                   = local.user_data
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.volume_size_gb
    encrypted   = true
    kms_key_id  = var.common.kms_key_arn
  }

  # A newer AMI is picked up when the host is replaced on purpose, not on every plan.
  lifecycle {
    ignore_changes = [ami]
  }

  tags = { Name = var.name }
}

resource "aws_route53_record" "this" {
  zone_id = var.common.dns_zone_id
  name    = var.dns_name
  type    = "A"
  ttl     = 60
  records = [aws_instance.this.private_ip]
}
