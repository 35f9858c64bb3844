# Outputs of the safe-analysis resources (terraform/modules/tributary/analysis.tf).

output "analysis_role_arn" {
  description = "Execution role of the analysis function (POST /ops/analyses/{id}/run)."
  value       = module.tributary.analysis_role_arn
}

output "study_kms_key_arn" {
  description = "HMAC key behind the per-study pseudonyms of row-level extracts (STUDY_KMS_KEY_ARN)."
  value       = module.tributary.study_kms_key_arn
}

output "analysis_workgroup_prefix" {
  description = "Prefix of the study workgroups: the workgroup of study <s> is <prefix><s> (the analysis function's ANALYSIS_WORKGROUP_PREFIX)."
  value       = module.tributary.analysis_workgroup_prefix
}

output "analyst_role_arn" {
  description = "Role analysts assume (with MFA) to read released outputs."
  value       = module.tributary.analyst_role_arn
}

output "analysis_workgroups" {
  description = "Athena workgroup of each study."
  value       = module.tributary.analysis_workgroups
}
