terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.10.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.7.2"
    }
  }

  # State holds generated credentials (database password, Redis auth
  # token): keep it in an encrypted, versioned, access-controlled bucket.
  #   terraform init -backend-config=environments/production.backend.hcl
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "borderproof"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
