variable "name" {
  description = "Prefix of every name, e.g. textclf-dev."
  type        = string
}

variable "deletion_window_days" {
  description = "Days a scheduled key deletion can still be cancelled."
  type        = number
  default     = 30
}
