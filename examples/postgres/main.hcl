# Shared state in PostgreSQL: every CI runner and person applying this configuration
# shares one state, one lock and one journal in the database (docs/backends.md).
#
#   export PG_CONN_STR='postgres://tokenform:PASSWORD@db.internal:5432/infra?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem'
#   export LAUNCHDARKLY_ACCESS_TOKEN=api-…
#   tokenform -C examples/postgres plan
#   tokenform -C examples/postgres apply
#
# Moving an existing local state in:
#   tokenform -C examples/postgres state migrate --from tokens/tokenform.state.json
#
# The connection string never goes in this file: `conn_str_env` names the variable.

state {
  # Public keys only: CI writes secrets it can never read. This one is the public demo
  # key of examples/quickstart: put your own here (`tokenform keygen` makes one).
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]

  backend "pg" {
    conn_str_env = "PG_CONN_STR"
    schema       = "tokenform"
    workspace    = "production"
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
