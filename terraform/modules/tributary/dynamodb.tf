# FHIR version index: {type}/{id} -> current version and owning source (optimistic concurrency).
# Commits over 100 entries use pending versions and one transaction item per commit (docs/dynamodb-version-index.md):
# the sparse `pending` index holds only entries still pending and committed transaction items not yet expired
# (recovery queries it, 16 shards of gk, range pa = transaction start in epoch ms); settled transaction items
# expire through TTL on `xt`.

resource "aws_dynamodb_table" "versions" {
  name                        = "${local.prefix}-versions"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "gk"
    type = "S"
  }

  attribute {
    name = "pa"
    type = "N"
  }

  global_secondary_index {
    name            = "pending"
    hash_key        = "gk"
    range_key       = "pa"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "xt"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this["versions"].arn
  }

  point_in_time_recovery {
    enabled = true
  }
}
