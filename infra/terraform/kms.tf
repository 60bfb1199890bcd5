# Two customer-managed keys, both rotated yearly by KMS:
#   vault    wraps each insurer's data key (internal/vault). The application
#            calls KMS directly, always with the encryption context
#            {insurer = "ins_..."}; IAM grants require it (iam.tf).
#   storage  encrypts data at rest in AWS services: S3 (SSE-KMS), RDS,
#            ElastiCache and Secrets Manager. Principals use it only via
#            those services.

data "aws_iam_policy_document" "vault_key" {
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "vault" {
  description             = "${local.name} vault: wraps insurer data keys"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.vault_key.json
}

resource "aws_kms_alias" "vault" {
  name          = "alias/borderproof-vault"
  target_key_id = aws_kms_key.vault.key_id
}

data "aws_iam_policy_document" "storage_key" {
  statement {
    sid       = "AccountAdministration"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "storage" {
  description             = "${local.name} storage: S3, RDS, ElastiCache and Secrets Manager at rest"
  key_usage               = "ENCRYPT_DECRYPT"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.storage_key.json
}

resource "aws_kms_alias" "storage" {
  name          = "alias/borderproof-storage"
  target_key_id = aws_kms_key.storage.key_id
}
