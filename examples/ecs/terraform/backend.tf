# Terraform state in S3, locked with DynamoDB (the seed's "S3 backend for
# Terraform state, locked in DynamoDB").
#
# A backend block cannot use variables, so the values below are
# placeholders. Either edit them, or keep them and pass the real ones at
# init, which override what is written here:
#
#   terraform init \
#     -backend-config="bucket=acme-terraform-state" \
#     -backend-config="region=eu-west-1" \
#     -backend-config="dynamodb_table=terraform-locks"
#
# The bucket and the table must exist before `terraform init`; bootstrap/
# makes them (with its own local state, once per account).
#
#   bucket          S3 bucket holding the state (versioned, encrypted, private)
#   key             the state object's path in it; one per stack
#   region          the bucket's region
#   dynamodb_table  DynamoDB table with a string partition key named LockID;
#                   a lock item is written there for the length of each plan
#                   or apply, so two runs never write the state at once
#   encrypt         server-side encryption of the state object
#
# Terraform 1.11 and later also offer `use_lockfile = true` (a lock object
# in the bucket itself) and mark `dynamodb_table` deprecated; it still
# works, and both may be set while moving from one to the other.
terraform {
  backend "s3" {
    bucket         = "REPLACE-ME-terraform-state-bucket"
    key            = "supervise/ecs/terraform.tfstate"
    region         = "REPLACE-ME-aws-region"
    dynamodb_table = "REPLACE-ME-terraform-locks"
    encrypt        = true
  }
}
