# Production: the defaults (multi-AZ database, deletion protection, buckets kept on destroy).
environment       = "prod"
github_repository = "your-org/textclf" # this repository on GitHub
aws_region        = "us-east-1"
vpc_cidr          = "10.41.0.0/16"

# The dev stack in the same account already created the GitHub OIDC provider.
create_github_oidc_provider = false
