# IAM roles for service accounts (IRSA), one per process, least privilege.
#
#   api     vault key: Decrypt and GenerateDataKey (a submission seals
#           personal data and creates the insurer's data key on first use),
#           only with an {insurer = "ins_..."} encryption context; S3 read
#           (presigned GETs are signed with the api's own permissions) on
#           evidence and exports.
#   worker  vault key: as the api; S3 read, write and delete on evidence
#           and exports.
#   external-secrets  GetSecretValue on <secret_prefix>/* only.
#
# S3 objects are SSE-KMS under the storage key, so S3 callers also need that
# key, but only through S3 (kms:ViaService).

locals {
  service_accounts = {
    api              = "borderproof-api"
    worker           = "borderproof-worker"
    external-secrets = "borderproof-external-secrets"
  }
  s3_via_service = "s3.${var.region}.amazonaws.com"
}

data "aws_iam_policy_document" "assume" {
  for_each = local.service_accounts

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.eks_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.k8s_namespace}:${each.value}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.eks_oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "service" {
  for_each = local.service_accounts

  name                 = "${local.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = 3600
}

# The vault key, only for insurer data keys: the encryption context must be
# exactly {insurer = "ins_..."}.
data "aws_iam_policy_document" "vault_use" {
  statement {
    sid       = "VaultInsurerKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.vault.arn]
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:insurer"
      values   = ["ins_*"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = ["insurer"]
    }
  }
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.vault_use.json]

  statement {
    sid     = "ReadObjects"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.evidence.arn}/*",
      "${aws_s3_bucket.exports.arn}/*",
    ]
  }

  # Without ListBucket a missing object answers 403 instead of 404.
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.evidence.arn, aws_s3_bucket.exports.arn]
  }

  statement {
    sid       = "StorageKeyViaS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.storage.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

data "aws_iam_policy_document" "worker" {
  source_policy_documents = [data.aws_iam_policy_document.vault_use.json]

  statement {
    sid = "ReadWriteObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
    ]
    resources = [
      "${aws_s3_bucket.evidence.arn}/*",
      "${aws_s3_bucket.exports.arn}/*",
    ]
  }

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.evidence.arn, aws_s3_bucket.exports.arn]
  }

  statement {
    sid       = "StorageKeyViaS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.storage.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid = "ReadBorderProofSecrets"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
    ]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account_id}:secret:${var.secret_prefix}/*"]
  }

  statement {
    sid       = "StorageKeyViaSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.storage.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "borderproof-api"
  role   = aws_iam_role.service["api"].id
  policy = data.aws_iam_policy_document.api.json
}

resource "aws_iam_role_policy" "worker" {
  name   = "borderproof-worker"
  role   = aws_iam_role.service["worker"].id
  policy = data.aws_iam_policy_document.worker.json
}

resource "aws_iam_role_policy" "external_secrets" {
  name   = "borderproof-external-secrets"
  role   = aws_iam_role.service["external-secrets"].id
  policy = data.aws_iam_policy_document.external_secrets.json
}
