# The MLflow tracking server: one host running `mlflow server` with a PostgreSQL backend on RDS
# (encrypted, private, password managed by RDS in Secrets Manager) and artifacts proxied to S3,
# so clients need no access to the artifact bucket. The same RDS instance holds the Prefect
# server's database (created by the Prefect host at its first start).
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  database = "mlflow"
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "${var.name}: PostgreSQL of MLflow and Prefect, reachable from the VPC only"
  vpc_id      = var.host.vpc_id
}

# Both hosts use the database (MLflow's and Prefect's); both live in the private subnets.
resource "aws_vpc_security_group_ingress_rule" "database_from_hosts" {
  security_group_id = aws_security_group.database.id
  description       = "PostgreSQL from the hosts in the VPC"
  cidr_ipv4         = var.client_cidr
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
}

resource "aws_db_parameter_group" "this" {
  name   = var.name
  family = "postgres${var.postgres_major_version}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier                          = var.name
  engine                              = "postgres"
  engine_version                      = var.postgres_major_version
  instance_class                      = var.db_instance_class
  allocated_storage                   = var.db_allocated_storage_gb
  max_allocated_storage               = var.db_allocated_storage_gb * 5
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = var.host.kms_key_arn
  db_name                             = local.database
  username                            = "mlflow"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.host.kms_key_arn
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [aws_security_group.database.id]
  parameter_group_name                = aws_db_parameter_group.this.name
  publicly_accessible                 = false
  multi_az                            = var.db_multi_az
  backup_retention_period             = var.db_backup_retention_days
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  performance_insights_enabled        = var.db_performance_insights
  performance_insights_kms_key_id     = var.db_performance_insights ? var.host.kms_key_arn : null
  depends_on                          = [aws_iam_role_policy_attachment.monitoring]
}

module "host" {
  source               = "../host"
  common               = var.host
  name                 = "${var.name}-mlflow"
  description          = "MLflow tracking server"
  instance_type        = var.instance_type
  volume_size_gb       = var.volume_size_gb
  role_name            = var.role_name
  dns_name             = var.dns_name
  ingress              = { "MLflow API and UI from the private subnets" = { port = var.port, cidr = var.client_cidr } }
  egress               = { "PostgreSQL (RDS) in the VPC" = { port = 5432, cidr = var.client_cidr } }
  readable_secret_arns = [aws_db_instance.this.master_user_secret[0].secret_arn]
  units = {
    "mlflow-server.service" = templatefile("${path.module}/templates/mlflow-server.service.tftpl", {
      service_user    = var.host.service_user
      textclf_home    = var.host.textclf_home
      aws_region      = data.aws_region.current.region
      db_secret_arn   = aws_db_instance.this.master_user_secret[0].secret_arn
      db_endpoint     = aws_db_instance.this.endpoint
      db_name         = local.database
      port            = var.port
      workers         = var.mlflow_workers
      artifact_bucket = var.artifact_bucket
      allowed_hosts   = "${var.dns_name}.${var.host.dns_zone}:${var.port},localhost:*,127.0.0.1:*"
    })
  }
  enable_units = ["mlflow-server.service"]
}
