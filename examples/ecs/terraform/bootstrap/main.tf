# Makes the S3 bucket and the DynamoDB table that ../backend.tf keeps the
# state in and locks it with. Run once per account, with local state (a
# backend cannot store its state in itself):
#
#   cd bootstrap
#   terraform init
#   terraform apply -var region=eu-west-1 -var state_bucket=acme-terraform-state
#
# then put the outputs into ../backend.tf (or pass them to `terraform init`
# there with -backend-config). Keep this folder's terraform.tfstate safe, or
# import the two resources elsewhere; losing it loses nothing but the
# ability to change them from here.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

variable "region" {
  description = "Region of the bucket and the table."
  type        = string
}

variable "state_bucket" {
  description = "Name of the state bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket: 3 to 63 lower-case letters, digits, dots and hyphens."
  }
}

variable "lock_table" {
  description = "Name of the DynamoDB lock table."
  type        = string
  default     = "terraform-locks"
}

provider "aws" {
  region = var.region
}

resource "aws_s3_bucket" "state" {
  bucket = var.state_bucket

  lifecycle {
    prevent_destroy = true
  }
}

# Every state version is kept: a bad apply can be undone from the history.
resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# The S3 backend writes one item per locked state, keyed by LockID.
resource "aws_dynamodb_table" "locks" {
  name         = var.lock_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  lifecycle {
    prevent_destroy = true
  }
}

output "bucket" {
  value = aws_s3_bucket.state.id
}

output "dynamodb_table" {
  value = aws_dynamodb_table.locks.name
}

output "region" {
  value = var.region
}
