# Development: smallest sizes, single-zone database, everything removable by `terraform destroy`.
environment       = "dev"
github_repository = "your-org/textclf" # this repository on GitHub
aws_region        = "us-east-1"

worker_instance_type     = "t3.medium"
db_instance_class        = "db.t4g.micro"
db_multi_az              = false
db_backup_retention_days = 1
deletion_protection      = false
force_destroy_buckets    = true
