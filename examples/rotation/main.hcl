# Rotation: tokenform replaces a token's secret when it is older than `every`; the old secret
# keeps working for `grace`, so consumers have time to pick up the new one.
# It runs against the LaunchDarkly emulator inside tokenform (no account needed):
#   tokenform -C examples/rotation validate
#   tokenform -C examples/rotation apply
#   tokenform -C examples/rotation plan --rotate token.deploy   # rotate now
# For a real account, remove the launchdarkly block and export LAUNCHDARKLY_ACCESS_TOKEN.

launchdarkly {
  base_url = "embedded"
}

state {
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
}

token "deploy" {
  description   = "Deploy pipeline; rotated every quarter"
  role          = "writer"
  service_token = true

  rotation {
    every  = "90d"
    grace  = "48h"
    method = "replace" # new token, then an expiry on the old one
  }
}

token "metrics" {
  description   = "Metrics exporter; the legacy reset endpoint keeps its id"
  role          = "reader"
  service_token = true

  rotation {
    every  = "30d"
    grace  = "1h"
    method = "reset"
  }

  lifecycle {
    ignore_changes = [description]
  }
}

token "contractor" {
  description = "Temporary access that ends on a fixed date"
  role        = "reader"
  expires_at  = "2027-06-01T00:00:00Z"

  rotation {
    every = "2w" # grace defaults to 24h
  }
}
