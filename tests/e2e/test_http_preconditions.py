"""No lost updates: agents and labels carry an ETag, and changes sent with If-Match are refused (412) once the
agent or label moved on."""

import asyncio

import pytest

from application.deps import Deps
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import Client, assert_problem, team

pytestmark = pytest.mark.anyio


async def _agent(client: Client, headers: dict[str, str]) -> tuple[str, str, str]:
    """A new agent with a compiled version 1: its path, its ETag and the version's id."""
    created = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=headers
    )
    base, version = f"/org-agents/{created.json()['agent']['id']}", created.json()["blueprint"]["id"]
    compiled = await client.post(f"{base}/blueprints/{version}/compile", headers=headers)
    assert compiled.status_code == 200, compiled.text
    read = await client.get(base, headers=headers)
    return base, read.headers["etag"], version


async def test_every_read_and_write_of_an_agent_carries_its_etag_and_a_write_changes_it(
    client: Client, deps: Deps
) -> None:
    owner = (await team(deps, "acme")).owner.headers
    base, etag, _ = await _agent(client, owner)

    assert (await client.get(base, headers=owner)).headers["etag"] == etag  # stable while nothing changes
    renamed = await client.patch(base, json={"name": "Shop Pal"}, headers=owner | {"If-Match": etag})

    assert renamed.status_code == 200, renamed.text
    assert renamed.headers["etag"] != etag
    assert (await client.get(base, headers=owner)).headers["etag"] == renamed.headers["etag"]


async def test_a_write_with_a_stale_etag_is_refused_with_412_and_changes_nothing(client: Client, deps: Deps) -> None:
    owner = (await team(deps, "acme")).owner.headers
    base, stale, version = await _agent(client, owner)
    current = (await client.patch(base, json={"description": "first"}, headers=owner)).headers["etag"]

    attempts = [
        client.patch(base, json={"name": "lost"}, headers=owner | {"If-Match": stale}),
        client.put(base, json={"name": "lost"}, headers=owner | {"If-Match": stale}),
        client.post(f"{base}/deactivate", headers=owner | {"If-Match": stale}),
        client.post(f"{base}/activate", headers=owner | {"If-Match": stale}),
        client.post(f"{base}/blueprints/{version}/activate", headers=owner | {"If-Match": stale}),
        client.post(f"{base}/blueprints/{version}/compile?activate=true", headers=owner | {"If-Match": stale}),
        client.delete(base, headers=owner | {"If-Match": stale}),
        client.patch(base, json={"name": "lost"}, headers=owner | {"If-Match": f"W/{current}"}),  # weak never matches
    ]
    for attempt in attempts:
        problem = assert_problem(await attempt, 412)
        assert (problem["code"], problem["etag"]) == ("AgentChanged", current.strip('"'))

    after = await client.get(base, headers=owner)
    assert after.headers["etag"] == current
    agent = after.json()["agent"]
    assert (agent["name"], agent["description"], agent["status"], agent["current_blueprint_id"]) == (
        "Shop Buddy", "first", "active", None,
    )  # fmt: skip


async def test_a_matching_etag_or_star_or_a_list_holding_it_lets_the_write_through(client: Client, deps: Deps) -> None:
    owner = (await team(deps, "acme")).owner.headers
    base, etag, version = await _agent(client, owner)

    live = await client.post(f"{base}/blueprints/{version}/activate", headers=owner | {"If-Match": f'"x", {etag}'})
    assert live.status_code == 200, live.text
    off = await client.post(f"{base}/deactivate", headers=owner | {"If-Match": "*"})
    assert off.status_code == 200, off.text
    on = await client.post(f"{base}/activate", headers=owner | {"If-Match": off.headers["etag"]})
    assert on.status_code == 200, on.text
    assert (await client.delete(base, headers=owner | {"If-Match": on.headers["etag"]})).status_code == 204


async def test_of_two_concurrent_updates_from_the_same_read_exactly_one_wins(client: Client, deps: Deps) -> None:
    owner = (await team(deps, "acme")).owner.headers
    base, etag, _ = await _agent(client, owner)

    results = await asyncio.gather(
        *(client.patch(base, json={"name": f"writer {n}"}, headers=owner | {"If-Match": etag}) for n in range(2))
    )

    assert sorted(r.status_code for r in results) == [200, 412]
    [winner] = [r for r in results if r.status_code == 200]
    assert (await client.get(base, headers=owner)).json()["agent"]["name"] == winner.json()["name"]


async def test_of_two_moves_of_a_label_from_the_same_read_exactly_one_wins(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    owner = acme.owner.headers
    base, _, v1 = await _agent(client, owner)
    made = await client.post(f"{base}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=owner)
    v2 = made.json()["id"]
    assert (await client.post(f"{base}/blueprints/{v2}/compile", headers=owner)).status_code == 200
    assert (await client.put(f"{base}/labels/staging", json={"blueprint_id": v1}, headers=owner)).status_code == 200
    seen = (await client.get(f"{base}/labels/staging", headers=owner)).headers["etag"]

    results = await asyncio.gather(
        *(client.put(f"{base}/labels/staging", json={"blueprint_id": version},
                     headers=acme.member.headers | {"If-Match": seen}) for version in (v2, v1))
    )  # fmt: skip

    assert sorted(r.status_code for r in results) == [200, 412]
    [winner] = [r for r in results if r.status_code == 200]
    assert (await client.get(f"{base}/labels/staging", headers=owner)).headers["etag"] == winner.headers["etag"]
    moves = (await client.get(f"{base}/labels/staging/history", headers=owner)).json()["items"]
    assert len(moves) == 2  # the first move, and the winner's
