output "state_bucket" {
  description = "Bucket of the environments' Terraform state."
  value       = module.state.name
}
