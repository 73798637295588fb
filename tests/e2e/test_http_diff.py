"""Change notes, stored warnings, the diff of two versions and the dry run over HTTP, on every adapter."""

import copy

import pytest

from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import Client, World, assert_problem, fields_of, snapshot

pytestmark = pytest.mark.anyio


async def test_a_change_note_is_saved_returned_and_listed(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    made = await client.post(
        f"/org-agents/{world.live}/blueprints",
        json={"agent_blueprint": shop_buddy(), "message": "Answers about returns too"},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    listed = (await client.get(f"/org-agents/{world.live}/blueprints", headers=owner)).json()["items"]

    assert made.json()["message"] == "Answers about returns too"
    assert listed[0]["message"] == "Answers about returns too"
    assert listed[1]["message"] is None


async def test_a_change_note_over_1000_characters_is_422_naming_it_and_saves_nothing(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)
    refused = await client.post(
        f"/org-agents/{world.live}/blueprints", json={"agent_blueprint": shop_buddy(), "message": "x" * 1001},
        headers=owner,
    )  # fmt: skip

    assert fields_of(assert_problem(refused, 422)) == {"message"}
    assert await snapshot(client, owner, world.live) == before


async def test_a_compiled_version_carries_its_warnings(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    version = (
        await client.post(
            f"/org-agents/{world.live}/blueprints",
            json={"agent_blueprint": shop_buddy() | {"x_notes": 1}},
            headers=owner,
        )
    ).json()
    compiled = await client.post(f"/org-agents/{world.live}/blueprints/{version['id']}/compile", headers=owner)
    read = await client.get(f"/org-agents/{world.live}/blueprints/{version['id']}", headers=owner)

    assert version["compile_warnings"] is None
    assert [w["field"] for w in compiled.json()["warnings"]] == ["x_notes"]
    assert read.json()["compile_warnings"] == compiled.json()["warnings"]


async def test_the_diff_names_one_inserted_tool_and_shows_the_prompt_lines(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    document = copy.deepcopy(shop_buddy())
    tool = {"name": "gift_wrap", "purpose": "Wraps an order as a gift"}
    document["tools"].insert(0, tool)
    v3 = await client.post(f"/org-agents/{world.live}/blueprints", json={"agent_blueprint": document}, headers=owner)
    v3_id = v3.json()["id"]

    made = await client.get(f"/org-agents/{world.live}/blueprints/{v3_id}/diff", params={"from": world.live_v1},
                            headers=world.acme.member.headers)  # fmt: skip

    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["from"]["id"], body["from"]["version"], body["from"]["compilation_status"]) == (
        world.live_v1,
        1,
        "compiled",
    )
    assert (body["to"]["id"], body["to"]["version"], body["to"]["message"]) == (v3_id, 3, None)
    assert body["changes"] == [{"path": "tools[name=gift_wrap]", "op": "added", "after": tool}]
    assert "+- gift_wrap: Wraps an order as a gift." in body["prompt_diff"]


async def test_the_diff_of_version_1_starts_from_nothing(client: Client, world: World) -> None:
    made = await client.get(
        f"/org-agents/{world.live}/blueprints/{world.live_v1}/diff", headers=world.acme.member.headers
    )

    assert made.json()["from"] is None
    assert {change["op"] for change in made.json()["changes"]} == {"added"}
    assert made.json()["prompt_diff"] is None


async def test_the_diff_from_a_version_of_another_agent_or_organization_is_404(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    url = f"/org-agents/{world.live}/blueprints/{world.live_v2}/diff"

    assert_problem(await client.get(url, params={"from": world.other_v1}, headers=owner), 404)
    assert_problem(await client.get(url, headers=world.globex.owner.headers), 404)
    assert_problem(await client.get(url, params={"from": "not-a-uuid"}, headers=owner), 400)


async def test_the_dry_run_answers_the_outcome_for_any_role_and_writes_nothing(client: Client, world: World) -> None:
    member = world.acme.member.headers
    before = await snapshot(client, world.acme.owner.headers, world.live)
    ok = await client.post("/org-agents/blueprints/preview", json={"agent_blueprint": shop_buddy()}, headers=member)
    broken = await client.post(
        "/org-agents/blueprints/preview", json={"agent_blueprint": {"identity": {"name": "Ana"}}}, headers=member
    )
    unsaveable = await client.post(
        "/org-agents/blueprints/preview", json={"agent_blueprint": {"identity": "Ana"}}, headers=member
    )

    assert ok.status_code == 200, ok.text
    assert ok.json()["compilation_status"] == "compiled"
    assert ok.json()["compiled_system_prompt"].startswith("You are Shop Buddy.")
    assert ok.json()["errors"] == []
    assert broken.json()["compilation_status"] == "failed"
    assert broken.json()["compiled_system_prompt"] is None
    assert {e["field"] for e in broken.json()["errors"]} == {"identity.role", "identity.primary_purpose"}
    assert fields_of(assert_problem(unsaveable, 422)) == {"identity"}
    assert await snapshot(client, world.acme.owner.headers, world.live) == before
