"""Who may call what: another organization's ids do not exist, a bad token is 401, a low role is 403, on every
endpoint of the API table."""

import re
from typing import Any, Final
from uuid import UUID

import pytest

from application.deps import Deps
from application.tokens import CreateToken, RevokeToken, create_token, revoke_token
from domain.roles import Role, Scope
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import (
    ENDPOINTS,
    NAMING_A_VERSION,
    ON_AN_AGENT,
    Client,
    Endpoint,
    World,
    assert_problem,
    call,
    snapshot,
)

pytestmark = pytest.mark.anyio

UNKNOWN_AGENT = "ffffffff-ffff-4fff-8fff-fffffffffff1"
UNKNOWN_VERSION = "ffffffff-ffff-4fff-8fff-fffffffffff2"
CHALLENGE = 'Bearer realm="org-agents"'
BAD_HEADERS = {
    "no header": None,
    "empty": "",
    "no scheme": "oat_whatever",
    "basic scheme": "Basic YWNtZTpzZWNyZXQ=",
    "bearer without token": "Bearer",
    "bearer blank": "Bearer    ",
    "unknown token": "Bearer oat_" + "x" * 43,
    "bad checksum": "Bearer oat_" + "x" * 49,
    "not our token format": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
}


def endpoint_id(endpoint: Endpoint) -> str:
    return str(endpoint)


# Refusals by role and by token are decided by the use cases and the guard before storage is asked, so these rows run
# on the memory adapter only; what storage itself must keep apart (another organization's rows) runs on both, here
# and in the contract suite (tests/contract/test_tenancy.py).
BEFORE_STORAGE = pytest.mark.parametrize("deps", ["memory"], indirect=True)


@BEFORE_STORAGE  # each use case succeeds on PostgreSQL in the contract suite, and the lifecycle runs there over HTTP
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
async def test_every_endpoint_answers_its_success_to_an_owner(client: Client, world: World, endpoint: Endpoint) -> None:
    response = await call(client, endpoint, world.acme.owner.headers, world.live, world.live_v1)

    assert response.status_code == endpoint.ok, response.text


@BEFORE_STORAGE
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not e.managers_only], ids=endpoint_id)
async def test_a_member_may_read_draft_and_move_unprotected_labels_everywhere(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    response = await call(client, endpoint, world.acme.member.headers, world.live, world.live_v1)

    assert response.status_code == endpoint.ok, response.text


@BEFORE_STORAGE
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e.managers_only], ids=endpoint_id)
async def test_a_member_may_not_change_compile_or_activate_and_nothing_changes(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    reader = world.acme.owner.headers
    before = await snapshot(client, reader, world.live)

    for version in (world.live_v1, world.live_v2):
        response = await call(client, endpoint, world.acme.member.headers, world.live, version)
        assert assert_problem(response, 403)["code"] == "RoleTooLow"

    assert await snapshot(client, reader, world.live) == before


@pytest.mark.parametrize("endpoint", ON_AN_AGENT, ids=endpoint_id)
async def test_another_organizations_agent_does_not_exist_for_the_caller(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)
    intruder = world.globex.owner.headers

    foreign = await call(client, endpoint, intruder, world.live, world.live_v1)
    unknown = await call(client, endpoint, intruder, UNKNOWN_AGENT, UNKNOWN_VERSION)

    problem = assert_problem(foreign, 404)
    assert problem["code"] == "AgentNotFound"
    masked = foreign.text.replace(world.live, UNKNOWN_AGENT).replace(world.live_v1, UNKNOWN_VERSION)
    assert masked == unknown.text  # nothing tells a foreign id from one that never existed
    assert await snapshot(client, world.acme.owner.headers, world.live) == before


@BEFORE_STORAGE  # storage keeps versions to their agent on both adapters: tests/contract/*::*_of_another_agent_*
@pytest.mark.parametrize("endpoint", NAMING_A_VERSION, ids=endpoint_id)
async def test_a_version_of_one_agent_is_not_found_under_another_agent_of_the_same_organization(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    reader = world.acme.owner.headers
    before = (await snapshot(client, reader, world.live), await snapshot(client, reader, world.other))

    response = await call(client, endpoint, reader, world.other, world.live_v1)

    assert assert_problem(response, 404)["code"] == "BlueprintNotFound"
    assert (await snapshot(client, reader, world.live), await snapshot(client, reader, world.other)) == before


async def test_another_organizations_lists_search_and_stats_show_nothing_of_it(client: Client, world: World) -> None:
    intruder = world.globex.owner.headers
    await client.delete(f"/org-agents/{world.other}", headers=world.acme.owner.headers)

    assert (await client.get("/org-agents", headers=intruder)).json() == {"items": [], "next_cursor": None}
    for status in ("active", "deactive", "delete"):
        listed = await client.get("/org-agents", params={"status": status}, headers=intruder)
        assert listed.json()["items"] == []
    for query in ("shop", "Shop Buddy", "o"):
        found = await client.post("/org-agents/search", json={"query": query}, headers=intruder)
        assert found.json() == {"items": []}
    stats = await client.get("/org-agents/compilation-stats", headers=intruder)
    assert stats.json() == {
        "total_blueprints": 0,
        "compiled_blueprints": 0,
        "draft_blueprints": 0,
        "failed_blueprints": 0,
        "compilation_rate": 0.0,
    }

    own = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=intruder
    )
    listed = (await client.get("/org-agents", headers=intruder)).json()
    assert [agent["id"] for agent in listed["items"]] == [own.json()["agent"]["id"]]
    found = (await client.post("/org-agents/search", json={"query": "shop"}, headers=intruder)).json()
    assert [agent["id"] for agent in found["items"]] == [own.json()["agent"]["id"]]
    assert (await client.get("/org-agents/compilation-stats", headers=intruder)).json()["total_blueprints"] == 1
    acme_listed = (await client.get("/org-agents", headers=world.acme.member.headers)).json()
    assert own.json()["agent"]["id"] not in {agent["id"] for agent in acme_listed["items"]}


@BEFORE_STORAGE
@pytest.mark.parametrize("endpoint", [*ENDPOINTS, Endpoint(method="GET", path="/whoami")], ids=endpoint_id)
async def test_every_endpoint_refuses_a_missing_malformed_wrong_or_revoked_token_with_a_challenge(
    client: Client, deps: Deps, world: World, endpoint: Endpoint
) -> None:
    reader = world.acme.owner.headers
    before = await snapshot(client, reader, world.live)
    await revoke_token(deps, RevokeToken(token_id=UUID(world.acme.admin.token_id)))
    refused = {**BAD_HEADERS, "revoked token": world.acme.admin.headers["Authorization"]}

    for case, header in refused.items():
        headers = {} if header is None else {"Authorization": header}
        response = await call(client, endpoint, headers, world.live, world.live_v1)
        assert response.status_code == 401, (case, response.text)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == CHALLENGE, case

    assert await snapshot(client, reader, world.live) == before


PROMPT_READS: Final = frozenset({("GET", "/org-agents/{agent}/prompt")})


@BEFORE_STORAGE
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
async def test_a_prompt_key_only_reads_live_prompts_whatever_its_role(
    client: Client, deps: Deps, world: World, endpoint: Endpoint
) -> None:
    issued = await create_token(
        deps, CreateToken(org_name="acme", user_id="runtime", role=Role.OWNER, scope=Scope.PROMPT)
    )
    runtime = {"Authorization": f"Bearer {issued.secret}"}
    reader = world.acme.owner.headers
    before = await snapshot(client, reader, world.live)

    response = await call(client, endpoint, runtime, world.live, world.live_v1)

    if (endpoint.method, endpoint.path) in PROMPT_READS:
        assert response.status_code == 200, response.text
    else:
        assert assert_problem(response, 403)["code"] == "ScopeTooNarrow"
    assert await snapshot(client, reader, world.live) == before
    assert (await client.get("/whoami", headers=runtime)).json()["scope"] == "prompt"


async def test_another_organizations_trail_shows_nothing_of_it_whatever_the_filter(
    client: Client, world: World
) -> None:
    intruder = world.globex.owner.headers
    nothing: dict[str, Any] = {"items": [], "next_cursor": None}

    own = (await client.get("/org-agents/audit-events", params={"limit": 100}, headers=intruder)).json()
    assert [(e["action"], e["agent_id"]) for e in own["items"]] == [("token.create", None)] * 3  # its own callers
    for params in (
        {"agent_id": world.live},
        {"agent_id": world.other},
        {"actor": world.acme.owner.user_id},
        {"action": "label.move"},
        {"action": "blueprint.compile", "since": "2000-01-01T00:00:00Z"},
    ):
        assert (await client.get("/org-agents/audit-events", params=params, headers=intruder)).json() == nothing
    acme = await client.get("/org-agents/audit-events", params={"limit": 100}, headers=world.acme.owner.headers)
    assert {e["agent_id"] for e in acme.json()["items"]} >= {world.live, world.other}


async def test_a_refused_token_is_never_echoed_back(client: Client, world: World) -> None:
    secret = world.acme.member.headers["Authorization"].removeprefix("Bearer ")
    wrong = secret[:-4] + "AAAA"

    response = await client.get(f"/org-agents/{world.live}", headers={"Authorization": f"Bearer {wrong}"})

    assert response.status_code == 401
    assert not re.search(re.escape(wrong[4:]), response.text + str(response.headers))
