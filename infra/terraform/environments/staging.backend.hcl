bucket       = "borderproof-staging-terraform-state"
key          = "borderproof/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
