bucket       = "borderproof-production-terraform-state"
key          = "borderproof/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
