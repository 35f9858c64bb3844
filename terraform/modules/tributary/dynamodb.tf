# FHIR version index: {type}/{id} -> current version and owning source (optimistic concurrency).

resource "aws_dynamodb_table" "versions" {
  name                        = "${local.prefix}-versions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this["versions"].arn
  }

  point_in_time_recovery {
    enabled = true
  }
}
