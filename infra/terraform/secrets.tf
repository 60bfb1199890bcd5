# Secrets Manager entries read by the External Secrets Operator
# (infra/k8s/base/externalsecrets.yaml), all encrypted with the storage key.
#
# database and redis get their values here, from generated passwords (they
# live in the state too: keep the state bucket encrypted and restricted).
# stripe, partners and partner-tls are created empty; an operator puts the
# values (README.md), so they never pass through code or state.

resource "aws_secretsmanager_secret" "database" {
  name                    = "${var.secret_prefix}/database"
  description             = "PostgreSQL connection: username, password, host, port, dbname"
  kms_key_id              = aws_kms_key.storage.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string = jsonencode({
    username = aws_db_instance.main.username
    password = random_password.db.result
    host     = aws_db_instance.main.address
    port     = aws_db_instance.main.port
    dbname   = aws_db_instance.main.db_name
  })
}

resource "aws_secretsmanager_secret" "redis" {
  name                    = "${var.secret_prefix}/redis"
  description             = "ElastiCache AUTH token (auth_token)"
  kms_key_id              = aws_kms_key.storage.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id     = aws_secretsmanager_secret.redis.id
  secret_string = jsonencode({ auth_token = random_password.redis_auth.result })
}

resource "aws_secretsmanager_secret" "stripe" {
  name                    = "${var.secret_prefix}/stripe"
  description             = "Stripe restricted API key (api_key); value put by an operator"
  kms_key_id              = aws_kms_key.storage.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret" "partners" {
  name                    = "${var.secret_prefix}/partners"
  description             = "Partner credentials: a JSON object of BORDERPROOF_PARTNER_* variables; value put by an operator"
  kms_key_id              = aws_kms_key.storage.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret" "partner_tls" {
  name                    = "${var.secret_prefix}/partner-tls"
  description             = "Partner mutual-TLS files: JSON with ca.pem, client.pem, client-key.pem; value put by an operator"
  kms_key_id              = aws_kms_key.storage.arn
  recovery_window_in_days = var.secret_recovery_window_days
}
