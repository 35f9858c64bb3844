variable "analysis_studies" {
  description = <<-EOT
    Studies of the safe-analysis path (docs/safe-analysis.md), each with the marts its approved analyses read
    (view names: the view and its <view>_history table are granted, and the mart's files under marts/<view>/).
    Each study gets its own Athena workgroup with an enforced, encrypted result location; the analysis function
    may read these marts (and resource_versions and patient_history, which every run reads) and nothing else.
  EOT
  type = map(object({
    marts = list(string)
  }))
  # null (the root module's default) means this default.
  nullable = false
  default = {
    "covid19-pht" = {
      marts = ["patient", "condition", "encounter", "procedure", "care_plan_activity"]
    }
  }

  validation {
    condition     = alltrue([for k, s in var.analysis_studies : can(regex("^[a-z0-9][a-z0-9-]{0,40}$", k)) && length(s.marts) > 0 && alltrue([for m in s.marts : can(regex("^[a-z][a-z0-9_]{0,63}$", m))])])
    error_message = "Study ids are lower-case letters, digits and -; each study lists at least one mart (lower-case view names)."
  }
}

variable "analyst_principal_arns" {
  description = "IAM principals (users or SSO roles) that may assume the analyst role (released outputs only), with MFA. Empty: any principal of this account that IAM allows to, with MFA."
  type        = list(string)
  nullable    = false
  default     = []
}

variable "analysis_bytes_scanned_cutoff" {
  description = "Largest amount of data one analysis query may scan in a study workgroup, bytes (Athena cancels it beyond)."
  type        = number
  nullable    = false
  default     = 10737418240
}
