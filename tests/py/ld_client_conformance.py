"""The official LaunchDarkly Python client (PyPI launchdarkly-api==25.0.1) against
`tokenform dev-server`: list with pagination, create, get, patch, reset, delete, caller
identity, custom roles, and the errors the client surfaces (400, 401, 403, 404, 422).

Usage: python ld_client_conformance.py URL ADMIN_TOKEN   (prints "conformance: ok")
Run by tests/integration/api.rs; the venv comes from .ci/test. Never prints a secret.
"""

import sys
import time
import warnings

import launchdarkly_api
from launchdarkly_api import exceptions
from launchdarkly_api.api.access_tokens_api import AccessTokensApi
from launchdarkly_api.api.custom_roles_api import CustomRolesApi
from launchdarkly_api.api.other_api import OtherApi
from launchdarkly_api.models.access_token_post import AccessTokenPost
from launchdarkly_api.models.patch_operation import PatchOperation
from launchdarkly_api.models.statement_post import StatementPost


def client(url, token):
    cfg = launchdarkly_api.Configuration(host=url)
    cfg.api_key["ApiKey"] = token
    c = launchdarkly_api.ApiClient(cfg)
    c.set_default_header("LD-API-Version", "20240415")
    return c


def expect(exc_type, status, fn):
    try:
        fn()
    except exc_type as e:
        assert e.status == status, f"expected {status}, got {e.status}"
        return e
    raise AssertionError(f"expected {exc_type.__name__} ({status})")


def main(url, admin):
    warnings.simplefilter("ignore", DeprecationWarning)  # reset_token is deprecated in 25.x
    api = AccessTokensApi(client(url, admin))

    # list, with pagination (the server caps pages; advance by what came)
    first = api.get_tokens(limit=5, offset=0)
    total = first.total_count
    assert total is not None and total >= 31, total
    seen = [t.id for t in first.items]
    while len(seen) < total:
        page = api.get_tokens(limit=5, offset=len(seen))
        assert page.items, "empty page before totalCount"
        seen.extend(t.id for t in page.items)
    assert len(set(seen)) == total, "pages overlap or skip"
    assert all(len(t.token) == 4 for t in first.items), "list shows last4 only"
    assert api.get_tokens(show_all=True).total_count >= total

    # create (full secret once), with a base role and with an inline role
    created = api.post_token(AccessTokenPost(name="py-reader", description="from python",
                                             role="reader", service_token=True,
                                             default_api_version=20240415))
    assert created.token.startswith("api-") and len(created.token) == 40
    inline = api.post_token(AccessTokenPost(name="py-inline", service_token=True, inline_role=[
        StatementPost(effect="allow", actions=["*"], resources=["proj/*:env/staging"])]))
    assert inline.inline_role[0].resources == ["proj/*:env/staging"]

    # get: last4 only
    got = api.get_token(created.id)
    assert got.token == created.token[-4:] and got.name == "py-reader"
    assert got.member.email, "the _member summary parses"

    # patch
    patched = api.patch_token(created.id, [PatchOperation(op="replace", path="/name", value="py-2"),
                                           PatchOperation(op="replace", path="/role", value="writer")])
    assert (patched.name, patched.role) == ("py-2", "writer")

    # reset: a new secret; the old one keeps working until expiry
    expiry = int(time.time() * 1000) + 60_000
    reset = api.reset_token(created.id, expiry=expiry)
    assert reset.token != created.token and len(reset.token) == 40
    for secret in (created.token, reset.token):
        AccessTokensApi(client(url, secret)).get_token(created.id)

    # caller identity, custom roles
    me = OtherApi(client(url, admin)).get_caller_identity()
    assert me.token_id and me.member_id
    roles = CustomRolesApi(client(url, admin))
    assert roles.get_custom_roles().total_count >= 1
    assert roles.get_custom_role("deploy").key == "deploy"
    expect(exceptions.NotFoundException, 404, lambda: roles.get_custom_role("no-such-role"))

    # errors the client surfaces
    e = expect(exceptions.UnauthorizedException, 401,
               lambda: AccessTokensApi(client(url, "api-00000000-0000-4000-8000-000000000000")).get_tokens())
    assert '"unauthorized"' in e.body
    reader = AccessTokensApi(client(url, reset.token))
    api.patch_token(created.id, [PatchOperation(op="replace", path="/role", value="reader")])
    expect(exceptions.ForbiddenException, 403, lambda: reader.post_token(AccessTokenPost(role="reader")))
    expect(exceptions.UnprocessableEntityException, 422,
           lambda: api.patch_token(created.id, [PatchOperation(op="remove", path="/inlineRole")]))
    expect(exceptions.BadRequestException, 400,
           lambda: api.patch_token(created.id, [PatchOperation(op="replace", path="/role", value="owner")]))
    expect(exceptions.NotFoundException, 404, lambda: api.get_token("000000000000000000000000"))

    # delete: 204, then 404
    assert api.delete_token(created.id) is None
    assert api.delete_token(inline.id) is None
    expect(exceptions.NotFoundException, 404, lambda: api.get_token(created.id))
    expect(exceptions.NotFoundException, 404, lambda: api.delete_token(created.id))
    expect(exceptions.UnauthorizedException, 401, lambda: AccessTokensApi(client(url, reset.token)).get_tokens())

    print("conformance: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
