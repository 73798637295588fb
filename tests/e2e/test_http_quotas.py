"""Quotas over HTTP: a create past the organization's quota is a 403 problem naming the quota, and writes nothing;
a retry with its Idempotency-Key is still answered; a deleted agent makes room; other organizations are not touched."""

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from application.deps import Deps
from domain.quotas import Quotas, document_bytes
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import Client, app_on, assert_problem, team

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def client_with(deps: Deps, **quotas: int) -> AsyncIterator[Client]:
    async with AsyncTestClient(app_on(dataclasses.replace(deps, quotas=Quotas(**quotas)))) as client:
        yield client


def refused(response: Any, quota: str, limit: int, used: int) -> dict[str, Any]:
    body = assert_problem(response, 403)
    assert (body["code"], body["quota"], body["limit"], body["used"]) == ("QuotaExceeded", quota, limit, used)
    return body


async def test_a_members_create_past_the_quota_of_agents_is_403_and_writes_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    member = acme.member.headers
    async with client_with(deps, agents=2) as client:
        for name in ("one", "two"):
            assert (await client.post("/org-agents", json={"name": name}, headers=member)).status_code == 201

        body = refused(await client.post("/org-agents", json={"name": "three"}, headers=member), "agents", 2, 2)
        both = {"name": "four", "agent_blueprint": shop_buddy()}
        refused(await client.post("/org-agents/with-blueprint", json=both, headers=member), "agents", 2, 2)

        assert body["detail"] == "the organization has 2 agents, its quota"
        listed = (await client.get("/org-agents", headers=member)).json()["items"]
        assert sorted(agent["name"] for agent in listed) == ["one", "two"]
        trail = (await client.get("/org-agents/audit-events", headers=acme.admin.headers)).json()["items"]
        assert [event["action"] for event in trail if event["agent_id"]] == ["agent.create", "agent.create"]


async def test_a_version_past_the_quota_of_versions_or_of_bytes_is_403_and_writes_nothing(deps: Deps) -> None:
    member = (await team(deps, "acme")).member.headers
    doc = shop_buddy()
    async with client_with(deps, versions=3, stored_bytes=3 * document_bytes(doc) + 100) as client:  # room for 3
        made = await client.post(
            "/org-agents/with-blueprint", json={"name": "a", "agent_blueprint": doc}, headers=member
        )
        versions = f"/org-agents/{made.json()['agent']['id']}/blueprints"
        assert (await client.post(versions, json={"agent_blueprint": doc}, headers=member)).status_code == 201

        too_big = {"agent_blueprint": doc | {"notes": "x" * 200}}
        limit, used = 3 * document_bytes(doc) + 100, 2 * document_bytes(doc)
        refused(await client.post(versions, json=too_big, headers=member), "stored_bytes", limit, used)
        assert (await client.post(versions, json={"agent_blueprint": doc}, headers=member)).status_code == 201
        refused(await client.post(versions, json={"agent_blueprint": {}}, headers=member), "versions", 3, 3)

        listed = (await client.get(versions, headers=member)).json()["items"]
        assert [version["version"] for version in listed] == [3, 2, 1]


async def test_a_retry_with_its_idempotency_key_is_answered_once_the_quota_is_reached(deps: Deps) -> None:
    member = (await team(deps, "acme")).member.headers
    async with client_with(deps, agents=2, versions=2) as client:
        firsts = []
        for path, body, key in [
            ("/org-agents", {"name": "one"}, "k1"),
            ("/org-agents/with-blueprint", {"name": "two", "agent_blueprint": {"identity": {"name": "t"}}}, "k2"),
        ]:
            first = await client.post(path, json=body, headers=member | {"Idempotency-Key": key})
            assert first.status_code == 201, first.text
            firsts.append((path, body, key, first))
        agent = firsts[0][3].json()["id"]
        version = await client.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": {}},
                                    headers=member | {"Idempotency-Key": "k3"})  # fmt: skip
        firsts.append((f"/org-agents/{agent}/blueprints", {"agent_blueprint": {}}, "k3", version))
        refused(await client.post("/org-agents", json={"name": "three"}, headers=member), "agents", 2, 2)

        for path, body, key, first in firsts:
            retry = await client.post(path, json=body, headers=member | {"Idempotency-Key": key})
            assert retry.status_code == 201, retry.text
            assert (retry.json(), retry.headers["location"]) == (first.json(), first.headers["location"])
        new_key = await client.post("/org-agents", json={"name": "one"}, headers=member | {"Idempotency-Key": "k4"})
        refused(new_key, "agents", 2, 2)
        assert len((await client.get("/org-agents", headers=member)).json()["items"]) == 2


async def test_deleting_an_agent_makes_room_and_other_organizations_have_their_own_quota(deps: Deps) -> None:
    acme, beta = await team(deps, "acme"), await team(deps, "beta")
    async with client_with(deps, agents=1) as client:
        made = await client.post("/org-agents", json={"name": "one"}, headers=acme.member.headers)
        refused(await client.post("/org-agents", json={"name": "two"}, headers=acme.member.headers), "agents", 1, 1)
        assert (await client.post("/org-agents", json={"name": "b"}, headers=beta.member.headers)).status_code == 201

        gone = await client.delete(f"/org-agents/{made.json()['id']}", headers=acme.admin.headers)
        assert gone.status_code == 204

        again = await client.post("/org-agents", json={"name": "two"}, headers=acme.member.headers)
        assert again.status_code == 201, again.text
