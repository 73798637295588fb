"""An agent's whole life through HTTP, as the seed's front end and an LLM runtime drive it, on every adapter."""

import json
from typing import Any

import pytest

from application.deps import Deps
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import Client, assert_problem, fields_of, team

pytestmark = pytest.mark.anyio


def failing_blueprint() -> dict[str, Any]:
    doc = shop_buddy()
    del doc["identity"]["role"]
    del doc["tools"][0]["purpose"]
    return doc


def with_launch_notes() -> dict[str, Any]:
    return shop_buddy() | {"launch_notes": "go live before the summer sale"}


async def test_an_agent_goes_from_blueprint_to_live_prompt_rollback_and_soft_delete(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    owner, member = acme.owner.headers, acme.member.headers

    created = await client.post(
        "/org-agents/with-blueprint",
        json={
            "name": "Shop Buddy",
            "description": "Answers shoppers",
            "agent_blueprint": shop_buddy(),
            "conversation_id": "conv-1",
        },
        headers=member,
    )
    assert created.status_code == 201, created.text
    agent, v1 = created.json()["agent"], created.json()["blueprint"]
    agent_id, v1_id = agent["id"], v1["id"]
    assert (agent["name"], agent["status"], agent["current_blueprint_id"]) == ("Shop Buddy", "active", None)
    assert (v1["version"], v1["compilation_status"], v1["agent_blueprint"]) == (1, "draft", shop_buddy())
    assert v1["created_by"] == acme.member.user_id
    base = f"/org-agents/{agent_id}"
    assert created.headers["location"] == base

    refused = await client.post(f"{base}/blueprints/{v1_id}/compile", headers=member)
    assert assert_problem(refused, 403)["code"] == "RoleTooLow"
    assert (await client.get(f"{base}/blueprints/{v1_id}/compilation-status", headers=member)).json()["status"] == (
        "draft"
    )

    compiled = await client.post(f"{base}/blueprints/{v1_id}/compile", headers=owner)
    assert compiled.status_code == 200, compiled.text
    result = compiled.json()
    assert result["compilation_status"] == "compiled"
    assert "Shop Buddy" in result["compiled_system_prompt"]
    assert "inventory_lookup" in result["compiled_system_prompt"]
    assert result["warnings"] == []
    assert result["message"]
    assert result["blueprint"]["compiled_by"] == acme.owner.user_id
    assert result["blueprint"]["compiled_system_prompt"] == result["compiled_system_prompt"]
    v1_prompt = result["compiled_system_prompt"]
    again = await client.post(f"{base}/blueprints/{v1_id}/compile", headers=owner)
    assert again.json()["compiled_system_prompt"] == v1_prompt
    assert (await client.get(f"{base}/prompt", headers=member)).status_code == 404  # compiled is not live

    v2 = await client.post(f"{base}/blueprints", json={"agent_blueprint": failing_blueprint()}, headers=member)
    assert v2.status_code == 201, v2.text
    v2_id = v2.json()["id"]
    assert v2.json()["version"] == 2
    failed = await client.post(f"{base}/blueprints/{v2_id}/compile", params={"activate": "true"}, headers=owner)
    problem = assert_problem(failed, 422)
    assert problem["code"] == "InvalidBlueprint"
    assert fields_of(problem) == {"identity.role", "tools[0].purpose"}
    status = (await client.get(f"{base}/blueprints/{v2_id}/compilation-status", headers=member)).json()
    assert status["status"] == "failed"
    assert {error["field"] for error in status["errors"]} == {"identity.role", "tools[0].purpose"}
    assert (await client.get(base, headers=member)).json()["agent"]["current_blueprint_id"] is None

    v3 = await client.post(
        f"{base}/blueprints", json={"agent_blueprint": with_launch_notes(), "conversation_id": "conv-2"}, headers=member
    )
    assert v3.status_code == 201, v3.text
    v3_id = v3.json()["id"]
    draft = await client.post(f"{base}/blueprints/{v3_id}/activate", headers=owner)
    assert assert_problem(draft, 409)["code"] == "VersionNotCompiled"
    assert assert_problem(await client.post(f"{base}/blueprints/{v2_id}/activate", headers=owner), 409)["code"] == (
        "VersionNotCompiled"
    )

    activated = await client.post(f"{base}/blueprints/{v1_id}/activate", headers=owner)
    assert activated.status_code == 200, activated.text
    assert activated.json()["current_blueprint_id"] == v1_id
    live = await client.get(f"{base}/prompt", headers=member)
    assert live.status_code == 200, live.text
    assert (live.json()["version"], live.json()["blueprint_id"]) == (1, v1_id)
    assert live.json()["compiled_system_prompt"] == v1_prompt
    etag_v1 = live.headers["etag"]
    unchanged = await client.get(f"{base}/prompt", headers=member | {"If-None-Match": etag_v1})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag_v1

    newer = await client.post(f"{base}/blueprints/{v3_id}/compile", params={"activate": "true"}, headers=owner)
    assert newer.status_code == 200, newer.text
    assert newer.json()["compilation_status"] == "compiled"
    assert [w["field"] for w in newer.json()["warnings"]] == ["launch_notes"]
    live = await client.get(f"{base}/prompt", headers=member | {"If-None-Match": etag_v1})
    assert live.status_code == 200
    assert live.json()["version"] == 3
    assert live.headers["etag"] != etag_v1

    rolled_back = await client.post(f"{base}/blueprints/{v1_id}/activate", headers=acme.admin.headers)
    assert rolled_back.json()["current_blueprint_id"] == v1_id
    live = await client.get(f"{base}/prompt", headers=member)
    assert (live.json()["version"], live.headers["etag"]) == (1, etag_v1)
    detail = (await client.get(base, headers=member)).json()
    assert (detail["blueprint"]["id"], detail["latest_blueprint"]["id"]) == (v1_id, v3_id)

    listed = (await client.get(f"{base}/blueprints", headers=member)).json()
    assert [v["version"] for v in listed["items"]] == [3, 2, 1]
    assert listed["next_cursor"] is None
    # Summaries: every field of a version but its document, prompt and compiler output, and their sizes instead.
    whole = [(await client.get(f"{base}/blueprints/{v['id']}", headers=member)).json() for v in listed["items"]]
    dropped = {"agent_blueprint", "compiled_system_prompt", "compile_errors", "compile_warnings"}
    sizes = {"blueprint_bytes", "prompt_bytes"}
    for summary, version in zip(listed["items"], whole, strict=True):
        assert set(summary) == set(version) - dropped | sizes
        assert {k: summary[k] for k in set(version) - dropped} == {k: version[k] for k in set(version) - dropped}
        assert summary["blueprint_bytes"] >= len(json.dumps(version["agent_blueprint"], separators=(",", ":")))
        prompt = version["compiled_system_prompt"]
        assert summary["prompt_bytes"] == (None if prompt is None else len(prompt.encode()))
    with_documents = (await client.get(f"{base}/blueprints", params={"include": "document"}, headers=member)).json()
    assert [{k: v for k, v in item.items() if k not in sizes} for item in with_documents["items"]] == whole
    assert [{k: item[k] for k in sizes} for item in with_documents["items"]] == [
        {k: item[k] for k in sizes} for item in listed["items"]
    ]
    first = (await client.get(f"{base}/blueprints", params={"limit": 2}, headers=member)).json()
    assert [v["version"] for v in first["items"]] == [3, 2]
    rest = (
        await client.get(f"{base}/blueprints", params={"limit": 2, "cursor": first["next_cursor"]}, headers=member)
    ).json()
    assert ([v["version"] for v in rest["items"]], rest["next_cursor"]) == ([1], None)
    of_conv_2 = (await client.get(f"{base}/blueprints", params={"conversation_id": "conv-2"}, headers=member)).json()
    assert [v["version"] for v in of_conv_2["items"]] == [3]

    compiled_list = (await client.get(f"{base}/compiled-blueprints", headers=member)).json()
    assert [v["version"] for v in compiled_list["items"]] == [3, 1]
    first_compiled = (await client.get(f"{base}/compiled-blueprints", params={"limit": 1}, headers=member)).json()
    assert [v["version"] for v in first_compiled["items"]] == [3]
    assert first_compiled["next_cursor"]

    stats = (await client.get("/org-agents/compilation-stats", headers=member)).json()
    assert stats == {
        "total_blueprints": 3,
        "compiled_blueprints": 2,
        "draft_blueprints": 0,
        "failed_blueprints": 1,
        "compilation_rate": 66.67,
    }

    off = await client.post(f"{base}/deactivate", headers=owner)
    assert (off.status_code, off.json()["status"]) == (200, "deactive")
    assert assert_problem(await client.get(f"{base}/prompt", headers=member), 404)["code"] == "NoLivePrompt"
    on = await client.post(f"{base}/activate", headers=owner)
    assert (on.status_code, on.json()["status"]) == (200, "active")
    assert (await client.get(f"{base}/prompt", headers=member)).json()["version"] == 1

    deleted = await client.delete(base, headers=owner)
    assert (deleted.status_code, deleted.content) == (204, b"")
    still = await client.get(base, headers=member)
    assert (still.status_code, still.json()["agent"]["status"]) == (200, "delete")
    refused_version = await client.post(f"{base}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=member)
    assert assert_problem(refused_version, 409)["code"] == "AgentDeleted"
    assert (await client.delete(base, headers=owner)).status_code == 204
    assert (await client.get(f"{base}/prompt", headers=member)).status_code == 404
    assert (await client.get("/org-agents", headers=member)).json()["items"] == []
    only_deleted = (await client.get("/org-agents", params={"status": "delete"}, headers=member)).json()
    assert [a["id"] for a in only_deleted["items"]] == [agent_id]


async def test_every_create_answers_with_a_location_that_reads_back_what_was_created(
    client: Client, deps: Deps
) -> None:
    acme = await team(deps, "acme")
    member = acme.member.headers

    plain = await client.post("/org-agents", json={"name": "Plain"}, headers=member)
    assert plain.status_code == 201, plain.text
    read = await client.get(plain.headers["location"], headers=member)
    assert read.status_code == 200
    assert read.json()["agent"] == plain.json()
    assert (read.json()["blueprint"], read.json()["latest_blueprint"]) == (None, None)

    with_blueprint = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=member
    )
    assert with_blueprint.status_code == 201, with_blueprint.text
    read = await client.get(with_blueprint.headers["location"], headers=member)
    assert read.json()["agent"] == with_blueprint.json()["agent"]
    assert read.json()["latest_blueprint"] == with_blueprint.json()["blueprint"]

    version = await client.post(
        f"/org-agents/{plain.json()['id']}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=member
    )
    assert version.status_code == 201, version.text
    assert version.json()["version"] == 1
    read = await client.get(version.headers["location"], headers=member)
    assert read.status_code == 200
    assert read.json() == version.json()


async def test_an_owner_renames_and_describes_an_agent_with_put_and_patch(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    made = await client.post("/org-agents", json={"name": "Draft", "description": "x"}, headers=acme.member.headers)
    base = made.headers["location"]

    patched = await client.patch(base, json={"name": "  Shop Buddy  "}, headers=acme.owner.headers)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["description"]) == ("Shop Buddy", "x")
    put = await client.put(base, json={"description": None, "status": "deactive"}, headers=acme.admin.headers)
    assert put.status_code == 200, put.text
    assert (put.json()["name"], put.json()["description"], put.json()["status"]) == ("Shop Buddy", None, "deactive")
    found = (await client.post("/org-agents/search", json={"query": "buddy"}, headers=acme.member.headers)).json()
    assert [agent["id"] for agent in found["items"]] == [made.json()["id"]]


async def test_the_live_prompt_answers_304_to_every_form_of_a_matching_if_none_match(
    client: Client, deps: Deps
) -> None:
    acme = await team(deps, "acme")
    made = await client.post(
        "/org-agents/with-blueprint",
        json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()},
        headers=acme.owner.headers,
    )
    agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
    await client.post(f"/org-agents/{agent}/blueprints/{version}/compile?activate=true", headers=acme.owner.headers)
    live = await client.get(f"/org-agents/{agent}/prompt", headers=acme.member.headers)
    etag = live.headers["etag"]
    assert live.headers["cache-control"] == "private, no-cache"

    for header in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        cached = await client.get(
            f"/org-agents/{agent}/prompt", headers=acme.member.headers | {"If-None-Match": header}
        )
        assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag), header
    for header in ('"stale"', etag.strip('"'), ""):
        fresh = await client.get(f"/org-agents/{agent}/prompt", headers=acme.member.headers | {"If-None-Match": header})
        assert fresh.status_code == 200, header
        assert fresh.json() == live.json()


async def test_a_release_goes_through_staging_to_production_and_is_rolled_back_by_label(
    client: Client, deps: Deps
) -> None:
    acme = await team(deps, "acme")
    owner, member = acme.owner.headers, acme.member.headers
    made = await client.post(
        "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, headers=member
    )
    base, v1 = made.headers["location"], made.json()["blueprint"]["id"]
    assert (await client.post(f"{base}/blueprints/{v1}/compile?activate=true", headers=owner)).status_code == 200
    v2 = (await client.post(f"{base}/blueprints", json={"agent_blueprint": with_launch_notes()}, headers=member)).json()

    staged = await client.post(f"{base}/blueprints/{v2['id']}/compile", params={"label": "staging"}, headers=owner)
    assert (staged.status_code, staged.json()["label"]) == (200, "staging")
    protected = await client.patch(f"{base}/labels/staging", json={"protected": True}, headers=owner)
    assert protected.status_code == 200, protected.text
    tried = await client.put(f"{base}/labels/staging", json={"blueprint_id": v1}, headers=member)
    assert assert_problem(tried, 403)["code"] == "RoleTooLow"
    runtime = {label: await client.get(f"{base}/prompt", params={"label": label}, headers=member)
               for label in ("production", "staging")}  # fmt: skip
    assert {label: r.json()["version"] for label, r in runtime.items()} == {"production": 1, "staging": 2}

    production = await client.get(f"{base}/labels/production", headers=member)
    promoted = await client.put(
        f"{base}/labels/production", json={"blueprint_id": v2["id"]},
        headers=acme.admin.headers | {"If-Match": production.headers["etag"]},
    )  # fmt: skip
    assert (promoted.status_code, promoted.json()["version"]) == (200, 2)
    live = await client.get(f"{base}/prompt", headers=member | {"If-None-Match": runtime["production"].headers["etag"]})
    assert (live.status_code, live.json()["version"]) == (200, 2)
    assert (await client.get(base, headers=member)).json()["agent"]["current_blueprint_id"] == v2["id"]

    rolled_back = await client.put(f"{base}/labels/production", json={"blueprint_id": v1}, headers=owner)
    assert (rolled_back.status_code, rolled_back.headers["etag"]) == (200, f'"{v1}"')
    assert (await client.get(f"{base}/prompt", headers=member)).json()["version"] == 1
    moves = (await client.get(f"{base}/labels/production/history", headers=member)).json()["items"]
    assert [(m["version"], m["previous_version"], m["moved_by"]) for m in moves] == [
        (1, 2, acme.owner.user_id), (2, 1, acme.admin.user_id), (1, None, acme.owner.user_id),
    ]  # fmt: skip
    listed = (await client.get(f"{base}/labels", headers=member)).json()["items"]
    assert [(i["name"], i["version"], i["protected"]) for i in listed] == [
        ("production", 1, True), ("latest", 2, True), ("staging", 2, True),
    ]  # fmt: skip
