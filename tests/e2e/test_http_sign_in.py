"""Sign-in with an identity provider: a JWT signed with a key of the provider's JWKS (served over HTTP on loopback,
fetched as the service fetches it in production) is a bearer token on every protected route and on the live
prompt; an expired or forged one is 401, and so is a good one while the provider's key endpoint is down."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest

from application.deps import Deps
from domain.labels import PRODUCTION
from domain.tokens import secret_hash
from entrypoints import bootstrap
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.contract.conftest import empty
from tests.e2e.conftest import Client, assert_problem
from tests.jwks import AUDIENCE, ISSUER, JwksServer, SigningKeys, claims, jwks_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys()


@pytest.fixture
def idp(keys: SigningKeys) -> Iterator[JwksServer]:
    with jwks_server(keys.jwks()) as server:
        yield server


def sign_in_env(idp: JwksServer, data_dir: Path) -> dict[str, str]:
    """The environment of a deployment whose identity provider is `idp`: http is allowed only because it is on
    loopback (anything else must be https)."""
    return {
        "ORG_AGENTS_DATA_DIR": str(data_dir),
        "ORG_AGENTS_JWT_JWKS": idp.url,
        "ORG_AGENTS_JWT_ISSUER": ISSUER,
        "ORG_AGENTS_JWT_AUDIENCE": AUDIENCE,
    }


@pytest.fixture(params=["memory", "postgres"])
def deps(request: pytest.FixtureRequest, idp: JwksServer, tmp_path: Path) -> Deps:  # the e2e `client` uses these
    if request.param == "memory":
        return bootstrap.memory_deps(settings=Settings.from_env(sign_in_env(idp, tmp_path)))
    made: Deps = request.getfixturevalue("postgres_sign_in_deps")
    return made


@pytest.fixture
async def postgres_sign_in_deps(idp: JwksServer, shared_migrated_database: str, tmp_path: Path) -> AsyncIterator[Deps]:
    empty(shared_migrated_database)
    settings = Settings.from_env(sign_in_env(idp, tmp_path) | {"DATABASE_URL": shared_migrated_database})
    async with bootstrap.postgres_deps(settings, shared_migrated_database) as made:  # the live cache on, as served
        yield made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_signed_jwt_is_a_bearer_token_of_its_organization_user_and_role(
    client: Client, keys: SigningKeys
) -> None:
    signed = claims("sso-acme", "alice", "owner")
    owner = bearer(keys.rs256(signed))
    member = bearer(keys.es256(claims("sso-acme", "bob", "member")))
    outsider = bearer(keys.rs256(claims("sso-globex", "carol", "owner")))

    me = await client.get("/whoami", headers=owner)
    assert me.status_code == 200, me.text
    found = me.json()
    assert (found["org_name"], found["user_id"], found["role"]) == ("sso-acme", "alice", "owner")
    assert (found["scope"], found["token_id"]) == ("manage", None)  # no token of ours stands behind it
    expires_at = datetime.fromisoformat(found["expires_at"])
    assert expires_at.timestamp() == signed["exp"] + 30  # the token's exp, plus the default leeway

    made = await client.post("/org-agents", json={"name": "Signed in"}, headers=owner)
    assert made.status_code == 201, made.text
    listed = await client.get("/org-agents", headers=member)
    assert listed.status_code == 200, listed.text
    assert [agent["id"] for agent in listed.json()["items"]] == [made.json()["id"]]
    assert (await client.get("/whoami", headers=member)).json()["org_id"] == found["org_id"]

    assert (await client.get("/org-agents", headers=outsider)).json()["items"] == []
    assert_problem(await client.get(f"/org-agents/{made.json()['id']}", headers=outsider), 404)
    assert_problem(await client.delete(f"/org-agents/{made.json()['id']}", headers=member), 403)  # a member's role


async def test_the_live_prompt_answers_a_signed_jwt_from_the_route_and_then_from_memory(
    client: Client, deps: Deps, keys: SigningKeys, caplog: pytest.LogCaptureFixture
) -> None:
    owner = bearer(keys.rs256(claims("sso-acme", "alice", "owner")))
    token = keys.es256(claims("sso-acme", "llm-runtime", "member"))
    runtime = bearer(token)
    made = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=owner
    )
    assert made.status_code == 201, made.text
    agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
    compiled = await client.post(f"/org-agents/{agent}/blueprints/{version}/compile?activate=true", headers=owner)
    assert compiled.status_code == 200, compiled.text

    path = f"/org-agents/{agent}/prompt"

    first = await client.get(path, headers=runtime)
    assert first.status_code == 200, first.text
    assert first.json()["compiled_system_prompt"] == compiled.json()["compiled_system_prompt"]
    assert first.headers["etag"] == f'"{version}"'
    deadline = time.monotonic() + 5
    while not held(deps, token, agent):  # a read racing the compile's change notice is not kept; a later one is
        assert (await client.get(path, headers=runtime)).status_code == 200
        assert time.monotonic() < deadline, "the principal and the prompt were never held in memory"
        await asyncio.sleep(0.005)
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        fast = await client.get(path, headers=runtime | {"X-Request-ID": "fast"})

    assert (fast.status_code, fast.json(), fast.headers["etag"]) == (200, first.json(), first.headers["etag"])
    lines = {line["request_id"]: line for line in (json.loads(r.getMessage()) for r in caplog.records)}
    assert lines["fast"]["from_memory"] is True


def held(deps: Deps, token: str, agent: str) -> bool:
    who = deps.live.principal(secret_hash(token))
    return who is not None and deps.live.prompt(who.org_id, UUID(agent), PRODUCTION) is not None


async def test_an_expired_or_forged_jwt_is_refused_with_401(client: Client, keys: SigningKeys) -> None:
    forger = SigningKeys()
    refused = {
        "expired": keys.rs256(claims("sso-acme", "alice", "owner", expires_in=-120)),
        "not yet valid": keys.rs256(claims("sso-acme", "alice", "owner", nbf=int(time.time()) + 600)),
        "for another audience": keys.rs256(claims("sso-acme", "alice", "owner", aud="another-app")),
        "of another issuer": keys.rs256(claims("sso-acme", "alice", "owner", iss="https://evil.example.test/")),
        "with a role not ours": keys.rs256(claims("sso-acme", "alice", "root")),
        "signed by another key": forger.rs256(claims("sso-acme", "alice", "owner")),
    }
    good = bearer(keys.rs256(claims("sso-acme", "alice", "owner")))
    made = await client.post("/org-agents", json={"name": "Probe"}, headers=good)
    assert made.status_code == 201, made.text

    for why, token in refused.items():
        for path in ("/whoami", "/org-agents", f"/org-agents/{made.json()['id']}/prompt"):
            answer = await client.get(path, headers=bearer(token))
            assert_problem(answer, 401)
            assert answer.headers["www-authenticate"].startswith("Bearer"), (why, path)
    assert (await client.get("/org-agents", headers=good)).status_code == 200


@pytest.mark.parametrize("failure", ["down", "answering 500"])
async def test_a_provider_whose_keys_cannot_be_fetched_means_401_not_500(
    client: Client, idp: JwksServer, keys: SigningKeys, failure: str
) -> None:
    if failure == "down":
        idp.stop()
    else:
        idp.status = 500
    token = bearer(keys.rs256(claims("sso-acme", "alice", "owner")))

    for path in ("/whoami", "/org-agents"):
        assert_problem(await client.get(path, headers=token), 401)
    if failure == "answering 500":
        assert idp.requests >= 1  # it was asked, and failed (tests/unit: how soon it is asked again)
