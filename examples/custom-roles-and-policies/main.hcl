# Least privilege: custom roles (by key) and inline policies instead of broad base roles.
#   tokenform -C examples/custom-roles-and-policies validate

state {
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
}

# Custom role KEYS as defined in LaunchDarkly; tokenform resolves them to ids.
token "release_manager" {
  description   = "Toggles flags in production through the release pipeline"
  custom_roles  = ["release-manager", "flag-reader"]
  service_token = true
}

# An inline policy: statements are evaluated like a custom role's.
token "auditor" {
  description = "Reads everything, changes nothing"

  policy {
    effect    = "allow"
    actions   = ["*"]
    resources = ["proj/*"]
  }

  policy {
    effect      = "deny"
    not_actions = ["viewProject"]
    resources   = ["proj/*"]
  }
}

token "experiments" {
  name        = "experiment-editor"
  description = "Edits experiments in one project, except production"

  policy {
    effect    = "allow"
    actions   = ["updateExperiment", "createExperiment"]
    resources = ["proj/checkout:env/*:experiment/*"]
  }

  policy {
    effect        = "deny"
    actions       = ["*"]
    not_resources = ["proj/checkout:env/staging:experiment/*"]
  }
}
