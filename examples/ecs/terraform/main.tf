# The Flask service on ECS Fargate with supervise as the container's PID 1:
# 2-10 tasks behind one internet-facing Application Load Balancer, no
# sticky sessions (sessions and sign-in state are signed cookies that any
# task with the same SESSION_SECRET accepts).
#
#   internet --443--> ALB --80--> task: supervise (proxy, sign-in) --> Flask on 127.0.0.1:5000
#
# The settings that must agree with supervisor.yaml are listed in the
# README ("Deploying on ECS"); `../validate` checks them.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  # Built rather than read from aws_iam_role.execution, so that the task
  # definition (and the container port used by the security groups and the
  # target group) is known at plan time; depends_on below keeps the order.
  execution_role_name = "${var.name}-execution"
  execution_role_arn  = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/${local.execution_role_name}"

  # ../task-definition.json is the task definition's one source of truth:
  # templatefile fills its ${...} placeholders (each must be named here,
  # or templatefile fails), and every field below is read from the result.
  # Without Terraform, `envsubst` fills the same placeholders for
  # `aws ecs register-task-definition --cli-input-json` (see the README).
  task = jsondecode(templatefile("${path.module}/../task-definition.json", {
    FAMILY                  = var.name
    IMAGE                   = var.image
    EXECUTION_ROLE_ARN      = local.execution_role_arn
    AWS_REGION              = var.aws_region
    LOG_GROUP               = "/ecs/${var.name}"
    PUBLIC_URL              = var.public_url
    AZURE_TENANT_ID         = var.azure_tenant_id
    AZURE_CLIENT_ID         = var.azure_client_id
    VPC_CIDR                = data.aws_vpc.this.cidr_block
    AZURE_CLIENT_SECRET_ARN = var.azure_client_secret_arn
    SESSION_SECRET_ARN      = var.session_secret_arn
  }))

  container      = local.task.containerDefinitions[0]
  container_port = local.container.portMappings[0].containerPort
}

# ---------------------------------------------------------------- logs

resource "aws_cloudwatch_log_group" "this" {
  # The group the task definition names (LOG_GROUP above).
  name              = local.container.logConfiguration.options["awslogs-group"]
  retention_in_days = var.log_retention_days
}

# ---------------------------------------------------------------- IAM

# The execution role is what ECS itself uses to start the task: pull the
# image from ECR, write to the log group, and read the two secrets that it
# injects as AZURE_CLIENT_SECRET and SESSION_SECRET. supervise calls no AWS
# API, so the task has no task role.
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = local.execution_role_name
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "read_secrets" {
  statement {
    sid       = "ReadTheTwoSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.azure_client_secret_arn, var.session_secret_arn]
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null ? [] : [var.secrets_kms_key_arn]

    content {
      sid       = "DecryptTheTwoSecrets"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "read_secrets" {
  name   = "read-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.read_secrets.json
}

# ---------------------------------------------------------------- network

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The load balancer: HTTP and HTTPS from the internet, out only to the tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, answered with a redirect to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to supervise"
  referenced_security_group_id = aws_security_group.tasks.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "The tasks: in only from the load balancer, out on 443"
  vpc_id      = var.vpc_id
}

# Only the load balancer reaches the tasks. That is also what makes
# trusting X-Forwarded-* from the whole VPC CIDR (VPC_CIDR) safe.
resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "supervise's listener, from the load balancer only"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
}

# Out: ECR (image), Secrets Manager, CloudWatch Logs, and Azure AD's
# discovery, keys and token endpoints. Add rules here for the backend's own
# dependencies (a database, say).
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS out: ECR, Secrets Manager, CloudWatch Logs, Azure AD"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# ---------------------------------------------------------------- load balancer

resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = var.public_subnet_ids
  security_groups    = [aws_security_group.alb.id]
  idle_timeout       = var.alb_idle_timeout

  # Header names outside [-A-Za-z0-9] are dropped at the edge (an
  # X_Auth_Request_User that a WSGI server would read as the identity
  # header). supervise strips every spelling anyway; this is one more layer.
  drop_invalid_header_fields = true

  enable_deletion_protection = var.deletion_protection
}

# The health check path, /api/health or /healthz:
#
# - /api/health (chosen, as in the seed and issue 5) is the Flask route,
#   public in supervisor.yaml, proxied by supervise: one check covers the
#   ALB -> supervise -> Flask path. It notices a backend that is alive but
#   wedged, which /healthz does not: supervise's readiness probe stops once
#   the backend is ready, and /healthz reports the process state.
# - /healthz is supervise's own report: 503 while a required process is not
#   ready and from the moment SIGTERM arrives (draining). That drain signal
#   is not what takes a task out of the rotation here: when ECS stops a
#   task (deployment, scale-in), it first deregisters the target, waits
#   deregistration_delay, and only then sends SIGTERM. And a health check
#   needs unhealthy_threshold x interval (30 s) to act, longer than
#   drain_timeout (15 s). The ECS container health check (`supervise health`,
#   in the task definition) is the one that watches /healthz.
#
# A backend restart does not fail the check at once: requests to
# /api/health wait for the restarted backend (supervise's retry_window),
# and three failures in a row are needed.
resource "aws_lb_target_group" "this" {
  name        = var.name
  target_type = "ip"
  protocol    = "HTTP"
  port        = local.container_port
  vpc_id      = var.vpc_id

  # In-flight requests on a deregistering task get this long before ECS
  # sends SIGTERM; at least supervise's drain_timeout, so the load balancer
  # never cuts a request sooner than supervise would.
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check_path
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  # Not needed: any task accepts any session cookie.
  stickiness {
    type    = "lb_cookie"
    enabled = false
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

# supervise answers /healthz (and /metrics) itself, without sign-in. The
# load balancer need not show them to the internet; its own health checks
# go straight to the targets and are not affected. supervise also answers
# percent-encoded spellings of these paths (/%68ealthz) that this rule does
# not match, so it hides them from casual visitors, no more: the report
# holds process states and counters, no secrets.
resource "aws_lb_listener_rule" "internal_paths" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  condition {
    path_pattern {
      values = var.internal_paths
    }
  }

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not Found"
      status_code  = "404"
    }
  }
}

# ---------------------------------------------------------------- ECS

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.task.family
  requires_compatibilities = local.task.requiresCompatibilities
  network_mode             = local.task.networkMode
  cpu                      = local.task.cpu
  memory                   = local.task.memory
  execution_role_arn       = local.task.executionRoleArn
  container_definitions    = jsonencode(local.task.containerDefinitions)

  runtime_platform {
    operating_system_family = local.task.runtimePlatform.operatingSystemFamily
    cpu_architecture        = local.task.runtimePlatform.cpuArchitecture
  }

  # Each is an empty bind mount on the task's ephemeral storage (/tmp for
  # Python, since the root file system is read-only).
  dynamic "volume" {
    for_each = local.task.volumes

    content {
      name = volume.value.name
    }
  }

  depends_on = [aws_iam_role.execution]
}

resource "aws_ecs_service" "this" {
  name            = var.name
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.this.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  # 1.4.0 or later: systemControls and ephemeral bind mounts need it.
  platform_version = "LATEST"

  # A new task's failing load balancer checks are ignored this long; the
  # container's own health check has its startPeriod for the same purpose.
  health_check_grace_period_seconds = var.health_check_grace_period

  # Rolling deployments: start new tasks before stopping old ones, and roll
  # back when new tasks keep failing (supervise exits with the backend's
  # code when it gives up, so a broken image fails fast).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = var.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container.name
    container_port   = local.container_port
  }

  propagate_tags = "SERVICE"

  # Autoscaling owns the count once the service exists; desired_count is
  # also its floor (aws_appautoscaling_target below).
  lifecycle {
    ignore_changes = [desired_count]
  }

  # The target group must be attached to the load balancer first, and the
  # execution role able to read the secrets and write the logs before a
  # task starts.
  depends_on = [
    aws_lb_listener.https,
    aws_iam_role_policy.read_secrets,
    aws_iam_role_policy_attachment.execution,
    aws_cloudwatch_log_group.this,
  ]
}

# ---------------------------------------------------------------- autoscaling

resource "aws_appautoscaling_target" "service" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this.name}"
  min_capacity       = var.desired_count
  max_capacity       = var.max_count

  lifecycle {
    precondition {
      condition     = var.max_count >= var.desired_count
      error_message = "max_count must be at least desired_count."
    }
  }
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.service.service_namespace
  scalable_dimension = aws_appautoscaling_target.service.scalable_dimension
  resource_id        = aws_appautoscaling_target.service.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
