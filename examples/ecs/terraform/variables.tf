# Inputs. Copy terraform.tfvars.example to terraform.tfvars and fill it in.
#
# Several of these values are written into ../task-definition.json by
# templatefile, inside JSON strings, so their validations also keep quotes
# and backslashes out.

variable "name" {
  description = "Name of the cluster, service, task family, load balancer, target group and log group."
  type        = string
  default     = "supervise"

  validation {
    # Load balancer and target group names: at most 32 characters.
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name: 2 to 24 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "aws_region" {
  description = "Region of everything here (and of the awslogs log stream)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region: a region name such as eu-west-1."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks. Its CIDR becomes VPC_CIDR, the proxies whose X-Forwarded-* supervise believes."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the internet-facing load balancer, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2
    error_message = "public_subnet_ids: an Application Load Balancer needs subnets in at least two availability zones."
  }
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks. They need a way out on 443 (NAT gateway or VPC endpoints) for ECR, Secrets Manager, CloudWatch Logs and Azure AD."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1
    error_message = "private_subnet_ids: at least one subnet (two or more, in different zones, for availability)."
  }
}

variable "assign_public_ip" {
  description = "Give each task a public IP. Only for tasks in public subnets without a NAT gateway; the security group still admits only the load balancer."
  type        = bool
  default     = false
}

variable "image" {
  description = "The container image: supervise as ENTRYPOINT, the backend and supervisor.yaml. Use an immutable tag or a digest (repo@sha256:...)."
  type        = string

  validation {
    condition     = can(regex("^[^\\s\"\\\\]+$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image: an image reference without spaces or quotes, and not :latest (ECS would not notice a new push)."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener, covering the host name of public_url."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "public_url" {
  description = "The address users type, without a trailing slash (https://app.example.com). supervise builds redirect URIs from it: register <public_url>/auth/oauth2/azure/callback in Azure AD."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?$", var.public_url))
    error_message = "public_url: https://host[:port], with no path and no trailing slash."
  }
}

variable "azure_tenant_id" {
  description = "Azure AD tenant: its GUID or its domain (not common or organizations). Not a secret: passed as plain environment."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9.-]+$", var.azure_tenant_id)) && !contains(["common", "organizations", "consumers"], lower(var.azure_tenant_id))
    error_message = "azure_tenant_id: one tenant's GUID or domain."
  }
}

variable "azure_client_id" {
  description = "Application (client) ID of the app registration. Not a secret: passed as plain environment."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.azure_client_id))
    error_message = "azure_client_id: a GUID."
  }
}

variable "azure_client_secret_arn" {
  description = "Secrets Manager secret (plain string) holding the app registration's client secret; becomes AZURE_CLIENT_SECRET."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.azure_client_secret_arn))
    error_message = "azure_client_secret_arn: the full ARN of a Secrets Manager secret (with its six-character suffix)."
  }
}

variable "session_secret_arn" {
  description = "Secrets Manager secret (plain string, 32 bytes or more: openssl rand -base64 48) that signs session cookies; becomes SESSION_SECRET. Every task must get the same one."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.session_secret_arn))
    error_message = "session_secret_arn: the full ARN of a Secrets Manager secret (with its six-character suffix)."
  }
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the two secrets, if any; the execution role may then decrypt with it. Null for the AWS-managed key."
  type        = string
  default     = null
}

variable "desired_count" {
  description = "Tasks to run, and the autoscaling floor. No sticky sessions are needed: sessions and sign-in state live in signed cookies."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 2 && var.desired_count <= 10 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count: a whole number from 2 to 10."
  }
}

variable "max_count" {
  description = "Autoscaling ceiling. Set it equal to desired_count for a fixed number of tasks."
  type        = number
  default     = 10

  validation {
    condition     = var.max_count >= 2 && var.max_count <= 10 && floor(var.max_count) == var.max_count
    error_message = "max_count: a whole number from 2 to 10."
  }
}

variable "cpu_target_percent" {
  description = "Average service CPU that autoscaling keeps the service at."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent: from 10 to 90."
  }
}

variable "deregistration_delay" {
  description = "Seconds the target group lets requests in flight finish on a deregistering task before ECS sends it SIGTERM. At least supervise's proxy.drain_timeout (15 s in supervisor.yaml)."
  type        = number
  default     = 20

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay: from 0 to 3600 seconds."
  }
}

variable "health_check_path" {
  description = "Path the target group polls: the backend's public /api/health route, through supervise's proxy. See main.tf for why not /healthz."
  type        = string
  default     = "/api/health"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path: a path starting with /."
  }
}

variable "health_check_grace_period" {
  description = "Seconds after a task starts during which ECS ignores failing load balancer health checks."
  type        = number
  default     = 30
}

variable "internal_paths" {
  description = "Paths answered by supervise itself that the internet need not see (health report, metrics); the HTTPS listener answers them 404. The target group's own checks bypass listener rules. At most 3."
  type        = list(string)
  default     = ["/healthz", "/metrics"]

  validation {
    condition     = length(var.internal_paths) >= 1 && length(var.internal_paths) <= 3
    error_message = "internal_paths: one to three paths (an ALB path condition takes at most three)."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection open, on both sides. Keep it below supervise's idle keep-alive time (see the README)."
  type        = number
  default     = 60
}

variable "ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the load balancer on 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the container's logs."
  type        = number
  default     = 30
}

variable "container_insights" {
  description = "Turn on CloudWatch Container Insights for the cluster (billed per metric)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion; set false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource (the provider's default_tags)."
  type        = map(string)
  default     = {}
}
