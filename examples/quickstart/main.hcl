# Quickstart: a few tokens against the emulator that runs inside tokenform.
#   tokenform -C examples/quickstart validate
#   tokenform -C examples/quickstart apply
# The state's secrets are encrypted to demo.key's public key (a DEMO identity: public, never
# use it for real secrets). Read them back with:
#   tokenform -C examples/quickstart secret token.ci_reader --identity examples/quickstart/demo.key

launchdarkly {
  base_url = "embedded"
}

state {
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
}

variable "team" {
  type        = string
  default     = "platform"
  description = "Owning team, used in token names"
}

locals {
  prefix = "ci-${var.team}"
}

token "ci_reader" {
  name          = "${local.prefix}-reader"
  description   = "Read-only token for CI"
  role          = "reader"
  service_token = true
}

token "release_bot" {
  name          = "${local.prefix}-release"
  description   = "Flips flags during releases"
  role          = "writer"
  service_token = true

  rotation {
    every = "90d"
  }
}

token "auditor" {
  description = "Can only look"

  policy {
    effect    = "allow"
    actions   = ["viewProject"]
    resources = ["proj/*"]
  }
}
