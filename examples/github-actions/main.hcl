# The configuration the three workflows beside this file expect in `tokens/` of your repo
# (copy it there, with the workflows in .github/workflows/). CI holds only the LaunchDarkly
# access token: the state's recipients are public keys, so plan, apply and drift never need
# an identity. Replace the demo recipient below with your team's.
#   tokenform -C examples/github-actions validate

launchdarkly {
  access_token_env = "LAUNCHDARKLY_ACCESS_TOKEN" # the one secret the workflows use
}

state {
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
}

token "ci_reader" {
  description   = "Read-only token for CI jobs"
  role          = "reader"
  service_token = true

  rotation {
    every = "90d" # the scheduled drift job reports it when it is due
  }
}

token "deployer" {
  description   = "Deploy pipeline"
  role          = "writer"
  service_token = true
}

# What the drift job reports as unmanaged: every other live token, except these.
unmanaged {
  ignore_names = ["sandbox-*"]
}
