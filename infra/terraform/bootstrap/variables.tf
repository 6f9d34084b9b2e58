variable "project" {
  description = "Prefix of the state bucket's name."
  type        = string
  default     = "textclf"
}

variable "aws_region" {
  description = "Region of the state bucket (the environments' backend files name it too)."
  type        = string
  default     = "us-east-1"
}
