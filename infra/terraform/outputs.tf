output "api_role_arn" {
  description = "IAM role for the borderproof-api service account (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.service["api"].arn
}

output "worker_role_arn" {
  description = "IAM role for the borderproof-worker service account."
  value       = aws_iam_role.service["worker"].arn
}

output "external_secrets_role_arn" {
  description = "IAM role for the borderproof-external-secrets service account."
  value       = aws_iam_role.service["external-secrets"].arn
}

output "database_endpoint" {
  description = "RDS endpoint (host:port)."
  value       = aws_db_instance.main.endpoint
}

output "redis_configuration_endpoint" {
  description = "ElastiCache configuration endpoint: BORDERPROOF_REDIS_CLUSTER_NODES and the KEDA trigger address (append :6379)."
  value       = aws_elasticache_replication_group.main.configuration_endpoint_address
}

output "vault_key_arn" {
  description = "KMS key that wraps insurer data keys (alias/borderproof-vault: BORDERPROOF_KMS_KEY_ID)."
  value       = aws_kms_key.vault.arn
}

output "storage_key_arn" {
  description = "KMS key for data at rest in S3, RDS, ElastiCache and Secrets Manager."
  value       = aws_kms_key.storage.arn
}

output "evidence_bucket" {
  description = "Evidence bucket: BORDERPROOF_S3_BUCKET."
  value       = aws_s3_bucket.evidence.bucket
}

output "exports_bucket" {
  description = "Exports bucket: BORDERPROOF_S3_EXPORTS_BUCKET."
  value       = aws_s3_bucket.exports.bucket
}

output "secret_names" {
  description = "Secrets Manager names the ExternalSecrets read."
  value = {
    database    = aws_secretsmanager_secret.database.name
    redis       = aws_secretsmanager_secret.redis.name
    stripe      = aws_secretsmanager_secret.stripe.name
    partners    = aws_secretsmanager_secret.partners.name
    partner_tls = aws_secretsmanager_secret.partner_tls.name
  }
}
