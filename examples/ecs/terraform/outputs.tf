output "alb_dns_name" {
  description = "Point the host name of public_url here (a CNAME, or a Route 53 alias with alb_zone_id)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "azure_redirect_uri" {
  description = "Register this as a Web redirect URI of the app registration in Azure AD."
  value       = "${var.public_url}/auth/oauth2/azure/callback"
}

output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "service_name" {
  value = aws_ecs_service.this.name
}

output "task_definition_arn" {
  value = aws_ecs_task_definition.this.arn
}

output "target_group_arn" {
  value = aws_lb_target_group.this.arn
}

output "log_group_name" {
  description = "supervise's JSON log lines, and the backend's output, one stream per task."
  value       = aws_cloudwatch_log_group.this.name
}

output "execution_role_arn" {
  value = aws_iam_role.execution.arn
}

output "task_security_group_id" {
  description = "Add egress rules here for the backend's own dependencies."
  value       = aws_security_group.tasks.id
}
