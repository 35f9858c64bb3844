# Outputs of the bulk import resources (terraform/modules/tributary/import.tf).

output "import_bucket" {
  description = "Bulk import bucket (inputs under inputs/, job state under import-jobs/)."
  value       = module.tributary.import_bucket
}

output "import_kms_key_arn" {
  description = "KMS key of the import bucket (IMPORT_KMS_KEY_ARN)."
  value       = module.tributary.import_kms_key_arn
}

output "import_plan_role_arn" {
  description = "Execution role of the importPlan function."
  value       = module.tributary.import_plan_role_arn
}

output "import_chunk_role_arn" {
  description = "Execution role of the importChunk function."
  value       = module.tributary.import_chunk_role_arn
}

output "import_finish_role_arn" {
  description = "Execution role of the importFinish function."
  value       = module.tributary.import_finish_role_arn
}

output "import_state_machine_arn" {
  description = "The bulk import state machine."
  value       = module.tributary.import_state_machine_arn
}
