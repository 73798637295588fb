"""The audit trail over HTTP: the questions people ask it ("who rolled back production yesterday?"), answered by the
two routes, newest first, in pages."""

from datetime import UTC, datetime
from typing import Any

import pytest

from application.deps import Deps
from tests.e2e.conftest import Client, World, assert_problem
from tests.samples import clock_of

pytestmark = pytest.mark.anyio

TRAIL = "/org-agents/audit-events"


async def every_page(client: Client, url: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        items.extend(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def test_who_rolled_back_production_yesterday(client: Client, deps: Deps, world: World) -> None:
    owner, admin, member = world.acme.owner, world.acme.admin, world.acme.member
    clock = clock_of(deps)  # the world was made on 2026-01-01: v1 compiled and live, v2 a draft
    compiled = await client.post(f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile", headers=owner.headers)
    assert compiled.status_code == 200, compiled.text
    production, staging = f"/org-agents/{world.live}/labels/production", f"/org-agents/{world.live}/labels/staging"

    async def move(url: str, version: str, who: dict[str, str], at: datetime) -> None:
        clock.current = at
        moved = await client.put(url, json={"blueprint_id": version}, headers=who)
        assert moved.status_code == 200, moved.text

    await move(production, world.live_v2, owner.headers, datetime(2026, 1, 2, 9, 0, tzinfo=UTC))  # promoted
    await move(production, world.live_v1, admin.headers, datetime(2026, 1, 2, 15, 30, tzinfo=UTC))  # rolled back
    await move(staging, world.live_v2, member.headers, datetime(2026, 1, 2, 16, 0, tzinfo=UTC))
    await move(production, world.live_v2, owner.headers, datetime(2026, 1, 3, 10, 0, tzinfo=UTC))  # today

    yesterday = {"action": "label.move", "since": "2026-01-02T00:00:00Z", "until": "2026-01-03T00:00:00Z"}
    moves = await every_page(client, TRAIL, owner.headers, **yesterday, limit=1)

    assert [(m["actor"], m["details"]["label"], m["occurred_at"]) for m in moves] == [
        (member.user_id, "staging", "2026-01-02T16:00:00Z"),
        (admin.user_id, "production", "2026-01-02T15:30:00Z"),
        (owner.user_id, "production", "2026-01-02T09:00:00Z"),
    ]
    [rollback] = [m for m in moves if m["details"]["label"] == "production" and m["details"]["version"] == 1]
    assert rollback["details"] == {
        "label": "production", "blueprint_id": world.live_v1, "version": 1, "previous_blueprint_id": world.live_v2,
        "previous_version": 2,
    }  # fmt: skip
    assert (rollback["action"], rollback["target_id"], rollback["agent_id"]) == ("label.move", world.live, world.live)
    # The agent's own history tells the same, to anyone of the organization.
    history = await every_page(client, f"/org-agents/{world.live}/audit-events", member.headers)
    assert rollback in history
    assert history[0]["occurred_at"] == "2026-01-03T10:00:00Z"


async def test_an_update_reads_as_before_and_after_in_both_trails(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    renamed = await client.patch(f"/org-agents/{world.other}", json={"name": "Other Buddy"}, headers=owner)
    assert renamed.status_code == 200, renamed.text

    newest = (await client.get(TRAIL, params={"limit": 1}, headers=owner)).json()["items"][0]
    history = (await client.get(f"/org-agents/{world.other}/audit-events", headers=world.acme.member.headers)).json()

    assert newest == history["items"][0]
    assert {k: newest[k] for k in ("actor", "action", "target_id", "agent_id", "details")} == {
        "actor": world.acme.owner.user_id, "action": "agent.update", "target_id": world.other,
        "agent_id": world.other, "details": {"before": {"name": "Other"}, "after": {"name": "Other Buddy"}},
    }  # fmt: skip
    assert [e["action"] for e in history["items"]] == ["agent.update", "blueprint.create", "agent.create"]
    assert history["next_cursor"] is None


async def test_the_organizations_trail_pages_add_up_and_each_filter_narrows_it(client: Client, world: World) -> None:
    owner = world.acme.owner.headers

    everything = await every_page(client, TRAIL, owner, limit=100)
    in_pages = await every_page(client, TRAIL, owner, limit=3)
    of_agent = await every_page(client, TRAIL, owner, agent_id=world.live, limit=2)
    of_actor = await every_page(client, TRAIL, owner, actor="operator")

    assert in_pages == everything
    assert of_agent == await every_page(client, f"/org-agents/{world.live}/audit-events", owner)
    assert of_agent == [e for e in everything if e["agent_id"] == world.live]
    assert of_actor == [e for e in everything if e["actor"] == "operator"]
    assert {e["action"] for e in of_actor} == {"token.create"}
    assert {e["agent_id"] for e in of_actor} == {None}
    assert set(everything[0]) == {"id", "occurred_at", "actor", "action", "target_id", "agent_id", "details"}


async def test_a_member_reads_an_agents_history_but_not_the_organizations_trail(client: Client, world: World) -> None:
    member = world.acme.member.headers

    assert assert_problem(await client.get(TRAIL, headers=member), 403)["code"] == "RoleTooLow"
    assert (await client.get(f"/org-agents/{world.live}/audit-events", headers=member)).status_code == 200


async def test_a_deleted_agents_history_stays_readable(client: Client, world: World) -> None:
    deleted = await client.delete(f"/org-agents/{world.other}", headers=world.acme.owner.headers)
    assert deleted.status_code == 204

    history = await client.get(f"/org-agents/{world.other}/audit-events", headers=world.acme.member.headers)

    assert history.status_code == 200
    assert history.json()["items"][0]["action"] == "agent.delete"
    assert history.json()["items"][0]["details"] == {"before": {"status": "active"}, "after": {"status": "delete"}}
