# Redis for asynq: cluster mode (asynq's keys carry a {queue} hash tag, so
# each queue lives on one shard), TLS in transit, AUTH token from Secrets
# Manager, encryption at rest, automatic failover across zones.

resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = var.data_subnet_ids
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Redis from the EKS nodes only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_eks" {
  security_group_id            = aws_security_group.redis.id
  referenced_security_group_id = var.eks_node_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  description                  = "EKS pods and the KEDA scaler"
}

resource "aws_elasticache_parameter_group" "redis7_cluster" {
  name   = "${local.name}-redis7-cluster"
  family = "redis7"

  parameter {
    name  = "cluster-enabled"
    value = "yes"
  }

  # asynq must never lose keys to memory pressure: refuse writes instead.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "random_password" "redis_auth" {
  length           = 64
  special          = true
  override_special = "!&#$^<>-"
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.name
  description          = "BorderProof task queues (asynq)"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis7_cluster.name

  cluster_mode            = "enabled"
  num_node_groups         = var.redis_shards
  replicas_per_node_group = var.redis_replicas_per_shard

  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.main.name
  security_group_ids = [aws_security_group.redis.id]

  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.storage.arn
  auth_token                 = jsondecode(aws_secretsmanager_secret_version.redis.secret_string)["auth_token"]
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit = 7
  snapshot_window          = "01:00-02:00"
  maintenance_window       = "sun:04:30-sun:05:30"
  apply_immediately        = false
}
