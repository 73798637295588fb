"""HTTP tests: the real app (`create_app`) on the contract suite's `deps`, so every test runs on memory and PostgreSQL.

Callers are made as operators make them: a token is minted, and requests carry it as a bearer header.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.deps import Deps
from application.tokens import CreateToken, create_token
from domain.roles import Role
from entrypoints.http.app import create_app, on_other_deps
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.contract.conftest import deps, postgres_deps

__all__ = ["deps", "postgres_deps"]  # fixtures are found only in conftest files on a test's path

PROBLEM: Final = "application/problem+json"

Client = AsyncTestClient[Litestar]


SETTINGS: Final = Settings(database_url=None, data_dir=Path("/nonexistent"))  # the deps are given: no data dir
_apps: list[Litestar] = []


def app_on(deps: Deps) -> Litestar:
    """The app as `create_app(SETTINGS, deps)` makes it; one per test process, made anew for each test's deps
    (entrypoints/http/app.py, `on_other_deps`), since making one costs about 0.1 s."""
    if not _apps:
        _apps.append(create_app(SETTINGS))
    return on_other_deps(_apps[0], SETTINGS, deps)


@pytest.fixture
async def client(deps: Deps) -> AsyncIterator[Client]:
    async with AsyncTestClient(app_on(deps)) as test_client:
        yield test_client


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """A token holder: the header to send, and the token's id (to revoke it)."""

    headers: dict[str, str]
    token_id: str
    user_id: str


async def caller(deps: Deps, org: str, user: str, role: Role) -> Caller:
    issued = await create_token(deps, CreateToken(org_name=org, user_id=user, role=role))
    return Caller(headers={"Authorization": f"Bearer {issued.secret}"}, token_id=str(issued.token.id), user_id=user)


class Team(msgspec.Struct, frozen=True, kw_only=True):
    owner: Caller
    admin: Caller
    member: Caller


async def team(deps: Deps, org: str) -> Team:
    return Team(
        owner=await caller(deps, org, f"{org}-owner", Role.OWNER),
        admin=await caller(deps, org, f"{org}-admin", Role.ADMIN),
        member=await caller(deps, org, f"{org}-member", Role.MEMBER),
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status, a title and a detail, and no trace of our code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem.get("errors") or []}


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    """One row of DESIGN.md's API table; `{agent}` and `{version}` stand for ids (in the path, or as a value of the
    body), `{label}` for `label`; `body` is a valid request. `managers_only`: a member is refused (403)."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    managers_only: bool = False
    ok: int = 200
    label: str | None = None
    query: str | None = None

    def url(self, agent: str, version: str) -> str:
        url = self.path.format(agent=agent, version=version, label=self.label)
        return f"{url}?{self.query}" if self.query else url

    def json(self, agent: str, version: str) -> dict[str, Any] | None:
        """The body, with the ids it names filled in."""
        if self.body is None:
            return None
        ids = {"{agent}": agent, "{version}": version}
        return {key: ids.get(value, value) if isinstance(value, str) else value for key, value in self.body.items()}

    @property
    def names_a_version(self) -> bool:
        return "{version}" in self.path or "{version}" in (self.body or {}).values()

    @property
    def route(self) -> tuple[str, str]:
        """The operation as the OpenAPI document names it."""
        documented = {"{agent}": "{agent_id}", "{version}": "{version_id}", "{label}": "{name}"}
        path = self.path
        for ours, theirs in documented.items():
            path = path.replace(ours, theirs)
        return self.method, path

    def __str__(self) -> str:
        return f"{self.method} {self.url('{agent}', '{version}')}"


LABEL: Final = "/org-agents/{agent}/labels/{label}"
ENDPOINTS: Final = (
    Endpoint(method="POST", path="/org-agents", body={"name": "Probe"}, ok=201),
    Endpoint(
        method="POST",
        path="/org-agents/with-blueprint",
        body={"name": "Probe", "agent_blueprint": shop_buddy()},
        ok=201,
    ),
    Endpoint(method="GET", path="/org-agents"),
    Endpoint(method="POST", path="/org-agents/search", body={"query": "shop"}),
    Endpoint(method="GET", path="/org-agents/compilation-stats"),
    Endpoint(method="GET", path="/org-agents/{agent}"),
    Endpoint(method="PUT", path="/org-agents/{agent}", body={"name": "Renamed"}, managers_only=True),
    Endpoint(method="PATCH", path="/org-agents/{agent}", body={"description": "changed"}, managers_only=True),
    Endpoint(method="DELETE", path="/org-agents/{agent}", managers_only=True, ok=204),
    Endpoint(method="POST", path="/org-agents/{agent}/activate", managers_only=True),
    Endpoint(method="POST", path="/org-agents/{agent}/deactivate", managers_only=True),
    Endpoint(method="POST", path="/org-agents/{agent}/blueprints", body={"agent_blueprint": shop_buddy()}, ok=201),
    Endpoint(method="GET", path="/org-agents/{agent}/blueprints"),
    Endpoint(method="GET", path="/org-agents/{agent}/blueprints/{version}"),
    Endpoint(method="POST", path="/org-agents/{agent}/blueprints/{version}/compile", managers_only=True),
    Endpoint(method="GET", path="/org-agents/{agent}/blueprints/{version}/compilation-status"),
    Endpoint(method="POST", path="/org-agents/{agent}/blueprints/{version}/activate", managers_only=True),
    Endpoint(method="GET", path="/org-agents/{agent}/compiled-blueprints"),
    Endpoint(method="GET", path="/org-agents/{agent}/prompt"),
    # What changed: the diff of two versions, the dry run of a document.
    Endpoint(method="GET", path="/org-agents/{agent}/blueprints/{version}/diff"),
    Endpoint(method="POST", path="/org-agents/blueprints/preview", body={"agent_blueprint": shop_buddy()}),
    # Release labels. Moving or deleting a protected label (production always, canary in `world`) needs a manager;
    # an unprotected one any role. Protecting is for managers; compiling too, whichever label it moves.
    Endpoint(method="GET", path="/org-agents/{agent}/labels"),
    Endpoint(method="GET", path=LABEL, label="staging"),
    Endpoint(method="PUT", path=LABEL, label="beta", body={"blueprint_id": "{version}"}),  # new: made by its move
    Endpoint(method="PUT", path=LABEL, label="canary", body={"blueprint_id": "{version}"}, managers_only=True),
    Endpoint(method="PUT", path=LABEL, label="production", body={"blueprint_id": "{version}"}, managers_only=True),
    Endpoint(method="PATCH", path=LABEL, label="staging", body={"protected": True}, managers_only=True),
    Endpoint(method="DELETE", path=LABEL, label="staging", ok=204),
    Endpoint(method="DELETE", path=LABEL, label="canary", managers_only=True, ok=204),
    Endpoint(method="GET", path=LABEL + "/history", label="staging"),
    Endpoint(method="GET", path="/org-agents/{agent}/prompt", query="label=staging"),
    Endpoint(
        method="POST",
        path="/org-agents/{agent}/blueprints/{version}/compile",
        query="label=staging",
        managers_only=True,
    ),
    # The organization's keys: owners and admins (tests/e2e/test_http_tokens.py has the rows naming a token).
    Endpoint(method="POST", path="/tokens", body={"user_id": "probe", "role": "member"}, managers_only=True, ok=201),
    Endpoint(method="GET", path="/tokens", managers_only=True),
    # Webhook endpoints: owners and admins (tests/e2e/test_http_webhooks.py has the rows naming a webhook).
    Endpoint(
        method="POST",
        path="/webhooks",
        body={"url": "https://hooks.example.com/org-agents", "events": ["agent.created"]},
        managers_only=True,
        ok=201,
    ),
    Endpoint(method="GET", path="/webhooks", managers_only=True),
    # The audit trail: the organization's is for managers, an agent's for anyone of the organization.
    Endpoint(method="GET", path="/org-agents/audit-events", managers_only=True),
    Endpoint(method="GET", path="/org-agents/{agent}/audit-events"),
)
ON_AN_AGENT: Final = tuple(e for e in ENDPOINTS if "{agent}" in e.path)
ON_A_VERSION: Final = tuple(e for e in ENDPOINTS if "{version}" in e.path)
NAMING_A_VERSION: Final = tuple(e for e in ENDPOINTS if e.names_a_version)  # in the path or in the body


async def call(client: Client, endpoint: Endpoint, headers: dict[str, str], agent: str, version: str) -> httpx.Response:
    return await client.request(
        endpoint.method, endpoint.url(agent, version), json=endpoint.json(agent, version), headers=headers
    )


class World(msgspec.Struct, frozen=True, kw_only=True):
    """Organization acme: agent `live` (version 1 compiled and live, version 2 a draft; labels `staging` and
    `canary`, protected, both on version 1) and agent `other` (one draft); organization globex, which has nothing."""

    acme: Team
    globex: Team
    live: str
    live_v1: str
    live_v2: str
    other: str
    other_v1: str


@pytest.fixture
async def world(client: Client, deps: Deps) -> World:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")
    owner = acme.owner.headers
    made = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=owner
    )
    live, live_v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
    compiled = await client.post(f"/org-agents/{live}/blueprints/{live_v1}/compile?activate=true", headers=owner)
    assert compiled.status_code == 200, compiled.text
    live_v2 = (
        await client.post(f"/org-agents/{live}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=owner)
    ).json()["id"]
    for label in ("staging", "canary"):
        moved = await client.put(f"/org-agents/{live}/labels/{label}", json={"blueprint_id": live_v1}, headers=owner)
        assert moved.status_code == 200, moved.text
    protected = await client.patch(f"/org-agents/{live}/labels/canary", json={"protected": True}, headers=owner)
    assert protected.status_code == 200, protected.text
    other = await client.post(
        "/org-agents/with-blueprint", json={"name": "Other", "agent_blueprint": shop_buddy()}, headers=owner
    )
    return World(
        acme=acme,
        globex=globex,
        live=live,
        live_v1=live_v1,
        live_v2=live_v2,
        other=other.json()["agent"]["id"],
        other_v1=other.json()["blueprint"]["id"],
    )


async def snapshot(client: Client, headers: dict[str, str], agent: str) -> dict[str, Any]:
    """What a reader of the organization sees: to show that a refused request changed nothing."""
    labels = (await client.get(f"/org-agents/{agent}/labels", headers=headers)).json()
    moves = {
        label["name"]: (await client.get(f"/org-agents/{agent}/labels/{label['name']}/history", headers=headers)).json()
        for label in labels.get("items", [])
        if not label["read_only"]  # `latest` follows compilation: it has no moves
    }
    return {
        "agent": (await client.get(f"/org-agents/{agent}", headers=headers)).json(),
        "labels": labels,
        "moves": moves,
        "versions": (await client.get(f"/org-agents/{agent}/blueprints", headers=headers)).json(),
        "agents": (await client.get("/org-agents", params={"limit": 100}, headers=headers)).json(),
        "deleted": (await client.get("/org-agents", params={"status": "delete"}, headers=headers)).json(),
        "stats": (await client.get("/org-agents/compilation-stats", headers=headers)).json(),
    }
