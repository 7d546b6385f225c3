# Shared state in S3 (or an S3-compatible store with conditional writes): every CI runner
# and person applying this configuration shares one state, one lock and one journal, as
# objects beside `key` in the bucket (docs/backends.md#s3).
#
#   export AWS_ACCESS_KEY_ID=AKIA… AWS_SECRET_ACCESS_KEY=…   # and AWS_SESSION_TOKEN for a role
#   export LAUNCHDARKLY_ACCESS_TOKEN=api-…
#   tokenform -C examples/s3 plan
#   tokenform -C examples/s3 apply --lock-timeout 1m
#
# Moving an existing local state in:
#   tokenform -C examples/s3 state migrate --from tokens/tokenform.state.json
#
# Credentials never go in this file: the backend reads the AWS_* variables only. For a
# store other than AWS, add `endpoint = "https://s3.example.com"` (plain http only to a
# loopback address, e.g. a local SeaweedFS or MinIO on http://127.0.0.1:8333).

state {
  # Public keys only: CI writes secrets it can never read. This one is the public demo
  # key of examples/quickstart: put your own here (`tokenform keygen` makes one).
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]

  backend "s3" {
    bucket = "acme-tokenform"
    key    = "prod/tokenform.state.json"
    region = "eu-central-1"
    # A run killed mid-apply keeps the others out this long, then the next run (on any
    # machine) takes its lock over and replays its journal.
    lock_lease = "30s"
  }
}

token "ci_reader" {
  description   = "Read-only token for CI"
  role          = "reader"
  service_token = true

  rotation {
    every = "90d"
  }
}

token "deployer" {
  for_each      = toset(["staging", "production"])
  name          = "deploy-${each.key}"
  role          = "writer"
  service_token = true
}
