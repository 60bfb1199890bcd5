variable "environment" {
  description = "Environment name: staging or production."
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC that holds the EKS cluster and the data stores."
  type        = string
}

variable "data_subnet_ids" {
  description = "Private subnets (one per availability zone) for RDS and ElastiCache."
  type        = list(string)

  validation {
    condition     = length(var.data_subnet_ids) >= 2
    error_message = "Multi-AZ needs at least two data subnets."
  }
}

variable "eks_node_security_group_id" {
  description = "Security group of the EKS nodes (pods reach the data stores from it)."
  type        = string
}

variable "eks_oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "eks_oidc_issuer" {
  description = "The cluster's OIDC issuer without https:// (oidc.eks.REGION.amazonaws.com/id/XXXX)."
  type        = string
}

variable "k8s_namespace" {
  description = "Kubernetes namespace the BorderProof service accounts live in."
  type        = string
}

variable "secret_prefix" {
  description = "Prefix of the Secrets Manager names (the ExternalSecrets read <prefix>/database etc.)."
  type        = string
  default     = "borderproof"
}

variable "bucket_prefix" {
  description = "Globally unique prefix for the S3 bucket names (<prefix>-evidence, <prefix>-exports)."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m7g.large"
}

variable "db_allocated_storage_gb" {
  description = "Initial RDS storage in GiB (autoscaling up to db_max_allocated_storage_gb)."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage_gb" {
  description = "RDS storage autoscaling ceiling in GiB."
  type        = number
  default     = 1000
}

variable "db_engine_version" {
  description = "PostgreSQL engine version (major 16)."
  type        = string
  default     = "16.10"
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Protect the database and the evidence bucket from deletion (true in production)."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m7g.large"
}

variable "redis_shards" {
  description = "Number of shards (node groups) in the Redis cluster."
  type        = number
  default     = 2
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least 1 for automatic failover)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas_per_shard >= 1
    error_message = "Automatic failover needs at least one replica per shard."
  }
}

variable "evidence_retention_days" {
  description = "Object Lock (compliance mode) retention for evidence objects, in days. Cannot be shortened for objects already written."
  type        = number
  default     = 2555

  validation {
    condition     = var.evidence_retention_days >= 1
    error_message = "evidence_retention_days must be at least 1."
  }
}

variable "export_expiry_days" {
  description = "Days after which export files (CSV billing exports and similar) are deleted."
  type        = number
  default     = 30
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can be restored."
  type        = number
  default     = 30
}
