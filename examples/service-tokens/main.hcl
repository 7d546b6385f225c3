# Service tokens for automation: not tied to a member, so they survive people leaving.
# It runs against the LaunchDarkly emulator inside tokenform (no account needed):
#   tokenform -C examples/service-tokens validate
#   tokenform -C examples/service-tokens plan -var environment=staging
# For a real account, set base_url = "https://app.launchdarkly.com" (the default) and export
# LAUNCHDARKLY_ACCESS_TOKEN.

launchdarkly {
  base_url         = "embedded"
  access_token_env = "LAUNCHDARKLY_ACCESS_TOKEN"
  api_version      = 20240415
  parallelism      = 4
}

state {
  path       = "tokenform.state.json"
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
  encrypt    = "secrets"
}

variable "environment" {
  type        = string
  default     = "production"
  description = "Which environment these automation tokens serve"
}

locals {
  prefix = "svc-${var.environment}"
}

token "ci_reader" {
  name          = "${local.prefix}-ci-reader"
  description   = "CI reads flag state for integration tests"
  role          = "reader"
  service_token = true
  api_version   = 20240415
}

token "terraform" {
  name          = "${local.prefix}-terraform"
  description   = "The Terraform LaunchDarkly provider manages projects"
  role          = "writer"
  service_token = true

  lifecycle {
    prevent_destroy       = true
    create_before_destroy = true
  }
}

token "legacy_exporter" {
  name          = "legacy-exporter"
  description   = "Adopted from before tokenform"
  role          = "reader"
  service_token = true
}

# Adopt a token that already exists instead of creating a new one: uncomment with the id of
# one of your live tokens (`tokenform drift` lists the unmanaged ones; the emulator starts
# with none, so here legacy_exporter is created).
# import {
#   to = token.legacy_exporter
#   id = "61095542756dba551110ae21"
# }

# Stop managing a token without deleting it.
removed {
  from    = token.old_dashboard
  destroy = false
}

# Report live tokens nobody declared, except old hand-made ones.
unmanaged {
  mode         = "report"
  ignore_names = ["legacy-*", "manual-?"]
  personal     = false
}
