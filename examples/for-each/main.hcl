# for_each: one block, many tokens. Sets give each.key = each.value = the element;
# maps give each.key = the key and each.value = its value.
#   tokenform -C examples/for-each validate
#   tokenform -C examples/for-each validate -var 'environments=["dev","qa"]'

state {
  recipients = ["age17rmdjdkhln5l0d4srq5swyt4k68mpqpxf84dgs3xy8hw6fv9rykssqlygq"]
}

variable "environments" {
  type    = set(string)
  default = ["staging", "production"]
}

variable "team" {
  type    = string
  default = "Payments"
}

locals {
  team     = lower(var.team)
  services = merge(
    { api = "reader", web = "reader" },
    { worker = "writer" },
  )
  all_roles = concat(["flag-reader"], [for e in var.environments : "deploy-${e}"])
}

# token.deployer["staging"], token.deployer["production"]
token "deployer" {
  for_each     = toset(var.environments)
  name         = format("%s-deploy-%s", local.team, each.key)
  custom_roles = ["deploy-${each.value}"]
}

# token.service["api"], token.service["web"], token.service["worker"]
token "service" {
  for_each      = local.services
  name          = "${local.team}-${each.key}"
  description   = "${upper(each.key)} service (${each.value}); roles known: ${join(", ", local.all_roles)}"
  role          = each.value
  service_token = true
}
