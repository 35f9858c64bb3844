# Statement groups of the function roles (local.function_statements, iam.tf): each statement is
# { sid, actions, resources, conditions }, always Allow. A role lists the groups it needs; a change here reaches every
# role that lists the group.

locals {
  # Every API request, accepted or refused, and every token the authorizer refuses, writes one hash-chained audit
  # record (src/adapters/aws/s3-audit-log.ts): PutObject with If-None-Match of audit/chains/{writer}/{sequence}.json,
  # the container's own chain. Anchors (audit/anchors/{sequence}.json, a shared chain written every 100 records or
  # 10 s) find their head with HeadObject and GetObject (s3:GetObject; s3:ListBucket is what makes HeadObject of a
  # missing key answer 404 instead of 403). The bucket's
  # default SSE-KMS under the audit key needs GenerateDataKey to write and Decrypt to read. Object Lock
  # (COMPLIANCE) makes every record immutable, so no delete or overwrite is possible, and none is granted.
  audit_append_statements = [
    {
      sid        = "AuditAppend"
      actions    = ["s3:PutObject", "s3:GetObject"]
      resources  = ["${aws_s3_bucket.this["audit"].arn}/*"]
      conditions = []
    },
    {
      sid        = "AuditList"
      actions    = ["s3:ListBucket"]
      resources  = [aws_s3_bucket.this["audit"].arn]
      conditions = []
    },
    {
      sid        = "AuditKey"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [aws_kms_key.this["audit"].arn]
      conditions = []
    },
  ]

  # The raw lake: committed objects and the commit protocol's outbox and manifests (write, read back, delete on
  # roll-back or clean-up: docs/commit-protocol.md).
  raw_lake_write_statements = [
    {
      sid        = "RawLakeObjects"
      actions    = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
      resources  = ["${aws_s3_bucket.this["lake"].arn}/*"]
      conditions = []
    },
    {
      sid        = "RawLakeList"
      actions    = ["s3:ListBucket"]
      resources  = [aws_s3_bucket.this["lake"].arn]
      conditions = []
    },
    {
      sid        = "RawLakeKey"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [aws_kms_key.this["lake"].arn]
      conditions = []
    },
  ]

  # The rest of landing a resource (ingest, triage's re-ingest, recovery): identity records write-only (never read
  # or decrypted; delete is the rollback of a request's records: docs/commit-protocol.md), pseudonyms, the version
  # index, and the ingest event.
  landing_statements = [
    {
      sid        = "IdentityStoreWriteOnly"
      actions    = ["s3:PutObject", "s3:DeleteObject"]
      resources  = ["${aws_s3_bucket.this["identity"].arn}/*"]
      conditions = []
    },
    {
      sid        = "IdentityKeyEncryptOnly"
      actions    = ["kms:GenerateDataKey", "kms:Encrypt"]
      resources  = [aws_kms_key.this["identity"].arn]
      conditions = []
    },
    {
      sid        = "Pseudonyms"
      actions    = ["kms:GenerateMac"]
      resources  = [for key in aws_kms_key.hmac : key.arn]
      conditions = []
    },
    # TransactWriteItems is authorised per item action (the adapter puts only Puts in one); Delete discards a create
    # that never committed (docs/dynamodb-version-index.md).
    {
      sid        = "VersionIndex"
      actions    = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources  = [aws_dynamodb_table.versions.arn]
      conditions = []
    },
    # Recovery of commits a crash left unfinished queries the sparse pending index, and nothing else.
    {
      sid        = "VersionIndexRecovery"
      actions    = ["dynamodb:Query"]
      resources  = ["${aws_dynamodb_table.versions.arn}/index/pending"]
      conditions = []
    },
    {
      sid        = "VersionIndexKey"
      actions    = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
      resources  = [aws_kms_key.this["versions"].arn]
      conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["dynamodb.${local.region}.amazonaws.com"] }]
    },
    {
      sid        = "PublishEvents"
      actions    = ["sns:Publish"]
      resources  = [aws_sns_topic.ingest.arn]
      conditions = []
    },
    {
      sid        = "EventsKey"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [aws_kms_key.this["messaging"].arn]
      conditions = []
    },
  ]

  # Submissions held for recheck (ingest, and the import chunk step, which runs ingest's write path): write-only.
  triage_write_statements = [
    {
      sid        = "TriageWrite"
      actions    = ["s3:PutObject"]
      resources  = ["${aws_s3_bucket.this["triage"].arn}/*"]
      conditions = []
    },
    {
      sid        = "TriageKeyEncrypt"
      actions    = ["kms:GenerateDataKey"]
      resources  = [aws_kms_key.this["triage"].arn]
      conditions = []
    },
  ]
}
