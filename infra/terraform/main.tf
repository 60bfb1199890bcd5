# BorderProof on AWS: the data stores, keys, buckets, secrets and IAM roles
# the api and worker pods use. The VPC and the EKS cluster exist already
# (their ids are variables); see README.md.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "borderproof-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}
