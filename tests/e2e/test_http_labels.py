"""Release labels through HTTP, on every adapter: list, read, move (promote, roll back), protect, delete, history,
compile ?label=, and the live prompt by label. `world` has agent `live` with production, `staging` and `canary`
(protected) on version 1, and version 2 a draft."""

from typing import Any, Final

import httpx
import pytest

from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import ENDPOINTS, LABEL, Client, Endpoint, World, assert_problem, fields_of, snapshot

pytestmark = pytest.mark.anyio

LABEL_ROUTES: Final = tuple(e for e in ENDPOINTS if e.path.startswith(LABEL))
WRITES: Final = frozenset({"PUT", "PATCH", "DELETE"})


def etag(version_id: str) -> str:
    return f'"{version_id}"'


def base(world: World) -> str:
    return f"/org-agents/{world.live}"


def at(world: World, name: str) -> str:
    return f"/org-agents/{world.live}/labels/{name}"


def compiling(world: World, version: str) -> str:
    return f"/org-agents/{world.live}/blueprints/{version}/compile"


async def compiled_version(client: Client, world: World) -> str:
    """A new version of `live`, compiled (not live): its id."""
    owner = world.acme.owner.headers
    made = await client.post(f"{base(world)}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=owner)
    assert made.status_code == 201, made.text
    done = await client.post(compiling(world, made.json()["id"]), headers=owner)
    assert done.status_code == 200, done.text
    version: str = made.json()["id"]
    return version


async def failed_version(client: Client, world: World) -> str:
    doc = shop_buddy()
    del doc["identity"]["role"]
    owner = world.acme.owner.headers
    made = await client.post(f"{base(world)}/blueprints", json={"agent_blueprint": doc}, headers=owner)
    version: str = made.json()["id"]
    assert assert_problem(await client.post(compiling(world, version), headers=owner), 422)["code"] == (
        "InvalidBlueprint"
    )
    return version


async def move(
    client: Client, world: World, name: str, version: str, headers: dict[str, str], if_match: str | None = None
) -> httpx.Response:
    sent = headers | ({"If-Match": if_match} if if_match is not None else {})
    return await client.put(at(world, name), json={"blueprint_id": version}, headers=sent)


async def label_of(client: Client, world: World, name: str) -> dict[str, Any]:
    read = await client.get(at(world, name), headers=world.acme.member.headers)
    assert read.status_code == 200, read.text
    assert read.headers["etag"] == etag(read.json()["blueprint_id"])
    found: dict[str, Any] = read.json()
    return found


async def history(client: Client, world: World, name: str, **params: Any) -> dict[str, Any]:
    read = await client.get(f"{at(world, name)}/history", params=params, headers=world.acme.member.headers)
    assert read.status_code == 200, read.text
    page: dict[str, Any] = read.json()
    return page


# -- reading --------------------------------------------------------------------------------------------------


async def test_the_list_shows_production_latest_then_the_others_by_name(client: Client, world: World) -> None:
    listed = await client.get(f"{base(world)}/labels", headers=world.acme.member.headers)

    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["name"], i["blueprint_id"], i["version"], i["protected"], i["read_only"]) for i in items] == [
        ("production", world.live_v1, 1, True, False),
        ("latest", world.live_v1, 1, True, True),
        ("canary", world.live_v1, 1, True, False),
        ("staging", world.live_v1, 1, False, False),
    ]
    assert {item["moved_by"] for item in items} == {world.acme.owner.user_id}
    assert all(item["moved_at"] for item in items)
    nothing_live = await client.get(f"/org-agents/{world.other}/labels", headers=world.acme.member.headers)
    assert nothing_live.json() == {"items": []}  # a draft only: no production, no latest


async def test_reading_a_label_gives_it_with_its_etag_and_an_unknown_one_is_not_found(
    client: Client, world: World
) -> None:
    member = world.acme.member.headers
    for name in ("staging", "production", "latest", "canary"):
        read = await client.get(at(world, name), headers=member)
        assert read.status_code == 200, read.text
        assert read.headers["etag"] == etag(world.live_v1)
        assert read.json()["name"] == name

    for name in ("nightly", "staging2"):
        problem = assert_problem(await client.get(at(world, name), headers=member), 404)
        assert problem["code"] == "LabelNotFound"
        assert name in problem["detail"]
    nothing_live = await client.get(f"/org-agents/{world.other}/labels/production", headers=member)
    assert assert_problem(nothing_live, 404)["code"] == "LabelNotFound"


# -- moving ---------------------------------------------------------------------------------------------------


async def test_a_move_creates_or_moves_the_label_and_moving_it_back_is_the_rollback(
    client: Client, world: World
) -> None:
    member = world.acme.member.headers
    v3 = await compiled_version(client, world)

    created = await move(client, world, "beta", v3, member)
    assert created.status_code == 200, created.text
    assert created.headers["etag"] == etag(v3)
    assert (created.json()["name"], created.json()["version"], created.json()["protected"]) == ("beta", 3, False)
    assert created.json()["moved_by"] == world.acme.member.user_id
    promoted = await move(client, world, "staging", v3, member)
    assert (promoted.status_code, promoted.headers["etag"]) == (200, etag(v3))
    assert (await label_of(client, world, "staging"))["blueprint_id"] == v3
    assert (await label_of(client, world, "production"))["blueprint_id"] == world.live_v1  # the others stay

    rolled_back = await move(client, world, "staging", world.live_v1, member)
    assert (rolled_back.status_code, rolled_back.headers["etag"]) == (200, etag(world.live_v1))
    moves = (await history(client, world, "staging"))["items"]
    assert [(m["blueprint_id"], m["previous_blueprint_id"]) for m in moves] == [
        (world.live_v1, v3), (v3, world.live_v1), (world.live_v1, None),
    ]  # fmt: skip


async def test_moving_a_label_where_it_already_points_changes_and_records_nothing(client: Client, world: World) -> None:
    before = await history(client, world, "staging")

    again = await move(client, world, "staging", world.live_v1, world.acme.member.headers)

    assert (again.status_code, again.headers["etag"]) == (200, etag(world.live_v1))
    assert await history(client, world, "staging") == before


async def test_moving_production_activates_the_version(client: Client, world: World) -> None:
    v3 = await compiled_version(client, world)

    moved = await move(client, world, "production", v3, world.acme.admin.headers)

    assert (moved.status_code, moved.headers["etag"]) == (200, etag(v3))
    agent = (await client.get(base(world), headers=world.acme.member.headers)).json()["agent"]
    assert agent["current_blueprint_id"] == v3
    live = await client.get(f"{base(world)}/prompt", headers=world.acme.member.headers)
    assert (live.headers["etag"], live.json()["label"]) == (etag(v3), "production")


async def test_a_draft_or_failed_version_cannot_be_labelled(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)
    failed = await failed_version(client, world)
    after_failing = await snapshot(client, owner, world.live)

    for version, status in ((world.live_v2, "draft"), (failed, "failed")):
        for name in ("staging", "production", "beta"):
            problem = assert_problem(await move(client, world, name, version, owner), 409)
            assert (problem["code"], problem["compilation_status"]) == ("VersionNotCompiled", status)

    assert after_failing["labels"] == before["labels"]
    assert await snapshot(client, owner, world.live) == after_failing


async def test_a_version_that_is_not_the_agents_own_is_not_found(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)

    for version in (world.other_v1, "ffffffff-ffff-4fff-8fff-ffffffffffff"):
        assert assert_problem(await move(client, world, "staging", version, owner), 404)["code"] == "BlueprintNotFound"

    assert await snapshot(client, owner, world.live) == before


async def test_a_deleted_agent_keeps_its_labels_readable_but_takes_no_change_and_serves_none(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    assert (await client.delete(base(world), headers=owner)).status_code == 204
    before = await snapshot(client, owner, world.live)

    attempts = [
        move(client, world, "staging", world.live_v1, owner),
        move(client, world, "beta", world.live_v1, owner),
        client.patch(at(world, "staging"), json={"protected": True}, headers=owner),
        client.delete(at(world, "staging"), headers=owner),
        client.post(compiling(world, world.live_v1), params={"label": "staging"}, headers=owner),
    ]
    for attempt in attempts:
        assert assert_problem(await attempt, 409)["code"] == "AgentDeleted"

    assert await snapshot(client, owner, world.live) == before
    assert [item["name"] for item in before["labels"]["items"]] == ["production", "latest", "canary", "staging"]
    for name in ("production", "staging", "latest"):
        served = await client.get(f"{base(world)}/prompt", params={"label": name}, headers=owner)
        assert assert_problem(served, 404)["code"] == "NoLivePrompt", name


# -- protection -----------------------------------------------------------------------------------------------


async def test_protected_labels_are_moved_and_deleted_by_managers_only_and_protection_is_theirs(
    client: Client, world: World
) -> None:
    member, admin = world.acme.member.headers, world.acme.admin.headers
    v3 = await compiled_version(client, world)
    before = await snapshot(client, admin, world.live)

    refused = [
        move(client, world, "canary", v3, member),
        move(client, world, "production", v3, member),
        client.delete(at(world, "canary"), headers=member),
        client.patch(at(world, "staging"), json={"protected": True}, headers=member),
        client.patch(at(world, "canary"), json={"protected": False}, headers=member),
        client.post(compiling(world, v3), params={"label": "staging"}, headers=member),
    ]
    for attempt in refused:
        assert assert_problem(await attempt, 403)["code"] == "RoleTooLow"
    assert await snapshot(client, admin, world.live) == before

    unprotected = await client.patch(at(world, "canary"), json={"protected": False}, headers=admin)
    assert (unprotected.status_code, unprotected.json()["protected"]) == (200, False)
    assert unprotected.headers["etag"] == etag(world.live_v1)
    assert (await move(client, world, "canary", v3, member)).status_code == 200
    protected = await client.patch(at(world, "staging"), json={"protected": True}, headers=admin)
    assert (protected.status_code, protected.json()["protected"]) == (200, True)
    assert assert_problem(await move(client, world, "staging", v3, member), 403)["code"] == "RoleTooLow"
    assert (await move(client, world, "staging", v3, admin)).json()["protected"] is True  # a move keeps protection
    assert (await client.delete(at(world, "canary"), headers=member)).status_code == 204


async def test_production_is_always_protected_and_cannot_be_deleted(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)

    assert assert_problem(await client.delete(at(world, "production"), headers=owner), 409)["code"] == (
        "ProductionUndeletable"
    )
    unprotect = await client.patch(at(world, "production"), json={"protected": False}, headers=owner)
    assert assert_problem(unprotect, 409)["code"] == "ProductionAlwaysProtected"
    assert await snapshot(client, owner, world.live) == before

    protect = await client.patch(at(world, "production"), json={"protected": True}, headers=owner)
    assert (protect.status_code, protect.json()["protected"], protect.headers["etag"]) == (
        200, True, etag(world.live_v1),
    )  # fmt: skip
    assert await snapshot(client, owner, world.live) == before


async def test_protecting_or_deleting_an_unknown_label_is_not_found(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)

    for attempt in (
        client.patch(at(world, "nightly"), json={"protected": True}, headers=owner),
        client.delete(at(world, "nightly"), headers=owner),
        client.get(f"{at(world, 'nightly')}/history", headers=owner),
    ):
        assert assert_problem(await attempt, 404)["code"] == "LabelNotFound"

    assert await snapshot(client, owner, world.live) == before


# -- deleting and preconditions ---------------------------------------------------------------------------------


async def test_a_deleted_label_is_gone_from_list_read_and_prompt_but_its_history_stays(
    client: Client, world: World
) -> None:
    member = world.acme.member.headers
    assert (await client.get(f"{base(world)}/prompt", params={"label": "staging"}, headers=member)).status_code == 200

    deleted = await client.delete(at(world, "staging"), headers=member)

    assert (deleted.status_code, deleted.content) == (204, b"")
    names = [i["name"] for i in (await client.get(f"{base(world)}/labels", headers=member)).json()["items"]]
    assert names == ["production", "latest", "canary"]
    assert assert_problem(await client.get(at(world, "staging"), headers=member), 404)["code"] == ("LabelNotFound")
    served = await client.get(f"{base(world)}/prompt", params={"label": "staging"}, headers=member)
    assert assert_problem(served, 404)["code"] == "NoLivePrompt"
    moves = (await history(client, world, "staging"))["items"]
    assert [(m["seq"], m["blueprint_id"], m["version"], m["previous_blueprint_id"]) for m in moves] == [
        (2, None, None, world.live_v1), (1, world.live_v1, 1, None),
    ]  # fmt: skip
    assert moves[0]["moved_by"] == world.acme.member.user_id
    assert assert_problem(await client.delete(at(world, "staging"), headers=member), 404)["code"] == ("LabelNotFound")
    recreated = await move(client, world, "staging", world.live_v1, member)
    assert recreated.status_code == 200, recreated.text
    assert [m["seq"] for m in (await history(client, world, "staging"))["items"]] == [3, 2, 1]


async def test_if_match_lets_a_move_or_delete_through_only_from_the_version_the_caller_saw(
    client: Client, world: World
) -> None:
    member = world.acme.member.headers
    v3 = await compiled_version(client, world)
    stale, current = etag(v3), etag(world.live_v1)
    before = await snapshot(client, member, world.live)

    refused = [
        move(client, world, "staging", v3, member, if_match=stale),
        move(client, world, "staging", v3, member, if_match=f"W/{current}"),  # a weak tag never matches a write
        client.delete(at(world, "staging"), headers=member | {"If-Match": stale}),
    ]
    for attempt in refused:
        problem = assert_problem(await attempt, 412)
        assert (problem["code"], problem["etag"]) == ("LabelChanged", world.live_v1)
    for if_match in ("*", current):  # beta does not exist: nothing matches
        problem = assert_problem(await move(client, world, "beta", v3, member, if_match=if_match), 412)
        assert (problem["code"], problem["etag"]) == ("LabelChanged", None)
    assert await snapshot(client, member, world.live) == before

    moved = await move(client, world, "staging", v3, member, if_match=f'"x", {current}')
    assert (moved.status_code, moved.headers["etag"]) == (200, etag(v3))
    assert (await move(client, world, "staging", world.live_v1, member, if_match="*")).status_code == 200
    gone = await client.delete(at(world, "staging"), headers=member | {"If-Match": current})
    assert gone.status_code == 204


async def test_a_move_of_production_with_a_stale_if_match_is_refused_and_changes_nothing(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    v3 = await compiled_version(client, world)
    before = await snapshot(client, owner, world.live)

    stale = await move(client, world, "production", v3, owner, if_match=etag(v3))

    problem = assert_problem(stale, 412)
    assert (problem["code"], problem["etag"]) == ("LabelChanged", world.live_v1)
    assert await snapshot(client, owner, world.live) == before


# -- history ----------------------------------------------------------------------------------------------------


async def test_the_history_is_newest_first_in_pages_joined_by_the_cursor(client: Client, world: World) -> None:
    member = world.acme.member.headers
    v3 = await compiled_version(client, world)
    for version in (v3, world.live_v1, v3, world.live_v1):
        assert (await move(client, world, "staging", version, member)).status_code == 200

    pages, cursor = [], None
    while True:
        page = await history(client, world, "staging", limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append([m["seq"] for m in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == [[5, 4], [3, 2], [1]]
    everything = (await history(client, world, "staging", limit=100))["items"]
    assert [m["version"] for m in everything] == [1, 3, 1, 3, 1]
    assert [m["previous_version"] for m in everything] == [3, 1, 3, 1, None]
    assert set(everything[0]) == {
        "seq", "blueprint_id", "version", "previous_blueprint_id", "previous_version", "moved_by", "moved_at",
    }  # fmt: skip
    assert (await history(client, world, "staging", limit=5))["next_cursor"] is None


async def test_activate_and_compile_with_activate_are_moves_of_production(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    v3 = await compiled_version(client, world)

    activated = await client.post(f"{base(world)}/blueprints/{v3}/activate", headers=owner)
    assert activated.status_code == 200, activated.text
    assert (await label_of(client, world, "production"))["blueprint_id"] == v3
    made = await client.post(f"{base(world)}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=owner)
    v4 = made.json()["id"]
    done = await client.post(compiling(world, v4), params={"activate": "true"}, headers=owner)
    assert (done.status_code, done.json()["label"]) == (200, "production")

    production = await label_of(client, world, "production")
    assert (production["blueprint_id"], production["version"], production["moved_by"]) == (
        v4, 4, world.acme.owner.user_id,
    )  # fmt: skip
    assert (await label_of(client, world, "latest"))["blueprint_id"] == v4
    moves = (await history(client, world, "production"))["items"]
    assert [(m["seq"], m["blueprint_id"], m["previous_blueprint_id"]) for m in moves] == [
        (3, v4, v3), (2, v3, world.live_v1), (1, world.live_v1, None),
    ]  # fmt: skip


# -- compile ?label= --------------------------------------------------------------------------------------------


async def test_compile_with_a_label_moves_that_label_once_compiled(client: Client, world: World) -> None:
    owner = world.acme.owner.headers

    done = await client.post(compiling(world, world.live_v2), params={"label": "staging"}, headers=owner)

    assert done.status_code == 200, done.text
    assert (done.json()["compilation_status"], done.json()["label"]) == ("compiled", "staging")
    assert "staging" in done.json()["message"]
    assert (await label_of(client, world, "staging"))["blueprint_id"] == world.live_v2
    assert (await label_of(client, world, "production"))["blueprint_id"] == world.live_v1
    new = await client.post(compiling(world, world.live_v2), params={"label": "canary-2"}, headers=owner)
    assert new.status_code == 200, new.text  # the stored result, and a new label made by its first move
    assert (await label_of(client, world, "canary-2"))["blueprint_id"] == world.live_v2


async def test_compile_with_a_label_refuses_what_a_move_refuses_and_changes_no_label(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    url = compiling(world, world.live_v2)
    before = (await snapshot(client, owner, world.live))["labels"]

    latest = assert_problem(await client.post(url, params={"label": "latest"}, headers=owner), 422)
    assert latest["code"] == "InvalidLabel"
    both = await client.post(url, params={"label": "staging", "activate": "true"}, headers=owner)
    assert assert_problem(both, 400)["code"] == "Malformed"
    stale = await client.post(url, params={"label": "staging"}, headers=owner | {"If-Match": etag(world.live_v2)})
    assert (assert_problem(stale, 412)["code"], stale.json()["etag"]) == ("LabelChanged", world.live_v1)
    failed = await failed_version(client, world)
    broken = await client.post(compiling(world, failed), params={"label": "staging"}, headers=owner)
    assert assert_problem(broken, 422)["code"] == "InvalidBlueprint"

    assert (await snapshot(client, owner, world.live))["labels"] == before  # latest too: v2 stays a draft


# -- the live prompt by label ------------------------------------------------------------------------------------


async def test_the_live_prompt_is_served_by_label_with_its_etag_and_304(client: Client, world: World) -> None:
    member = world.acme.member.headers
    v3 = await compiled_version(client, world)
    assert (await move(client, world, "staging", v3, member)).status_code == 200
    prompt = f"{base(world)}/prompt"

    production = await client.get(prompt, headers=member)
    staging = await client.get(prompt, params={"label": "staging"}, headers=member)
    latest = await client.get(prompt, params={"label": "latest"}, headers=member)
    explicit = await client.get(prompt, params={"label": "production"}, headers=member)

    answers = [
        (r.status_code, r.headers["etag"], r.json()["label"], r.json()["version"])
        for r in (production, staging, latest, explicit)
    ]
    assert answers == [
        (200, etag(world.live_v1), "production", 1), (200, etag(v3), "staging", 3), (200, etag(v3), "latest", 3),
        (200, etag(world.live_v1), "production", 1),
    ]  # fmt: skip
    assert staging.json()["blueprint_id"] == v3
    assert staging.json()["compiled_system_prompt"] == latest.json()["compiled_system_prompt"]
    unchanged = await client.get(prompt, params={"label": "staging"}, headers=member | {"If-None-Match": etag(v3)})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", etag(v3))
    other = await client.get(
        prompt, params={"label": "staging"}, headers=member | {"If-None-Match": etag(world.live_v1)}
    )
    assert (other.status_code, other.json()["label"]) == (200, "staging")  # production's ETag is not staging's


async def test_the_live_prompt_of_an_unknown_label_is_not_found_and_a_malformed_one_a_bad_request(
    client: Client, world: World
) -> None:
    member, prompt = world.acme.member.headers, f"{base(world)}/prompt"

    for name in ("nightly", "beta"):
        problem = assert_problem(await client.get(prompt, params={"label": name}, headers=member), 404)
        assert problem["code"] == "NoLivePrompt"
        assert name in problem["detail"]
    for name in ("Staging", "", "x" * 37, "st/ging"):
        problem = assert_problem(await client.get(prompt, params={"label": name}, headers=member), 400)
        assert {e["field"] for e in problem["errors"]} == {"label"}


async def test_a_switched_off_agent_serves_no_label(client: Client, world: World) -> None:
    member, prompt = world.acme.member.headers, f"{base(world)}/prompt"
    assert (await client.post(f"{base(world)}/deactivate", headers=world.acme.owner.headers)).status_code == 200

    for name in ("production", "staging", "latest", "canary"):
        served = await client.get(prompt, params={"label": name}, headers=member)
        assert assert_problem(served, 404)["code"] == "NoLivePrompt", name
    assert (await label_of(client, world, "staging"))["blueprint_id"] == world.live_v1  # still there, not served

    assert (await client.post(f"{base(world)}/activate", headers=world.acme.owner.headers)).status_code == 200
    served = await client.get(prompt, params={"label": "staging"}, headers=member)
    assert (served.status_code, served.json()["label"]) == (200, "staging")


# -- bad names in the path --------------------------------------------------------------------------------------


BAD_NAMES: Final = {  # as sent in the path -> the status it gets
    "x" * 37: 422,
    "x" * 101: 400,  # past the path's own bound
    "Staging": 422,
    "STAGING": 422,
    "-staging": 422,
    ".staging": 422,
    "st%20aging": 422,
    "st%00aging": 422,
    "%C3%A9t%C3%A9": 422,
    "%2e%2e": 422,
    "staging%3Bdrop": 422,
    "%25": 422,
    "%ff": 422,
    "st%2Faging": 404,  # a slash: no such route
}


def label_route_id(endpoint: Endpoint) -> str:
    return str(endpoint)


@pytest.mark.parametrize("endpoint", LABEL_ROUTES, ids=label_route_id)
async def test_a_bad_name_in_the_path_is_a_clear_4xx_and_changes_nothing(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)
    names = {**BAD_NAMES, "latest": 422} if endpoint.method in WRITES else BAD_NAMES
    if endpoint.path.endswith("/history"):
        names = {**names, "latest": 422}  # `latest` is never moved, so it has no history to read

    for name, status in names.items():
        url = endpoint.path.format(agent=world.live, version=world.live_v1, label=name)
        body = endpoint.json(world.live, world.live_v1)
        response = await client.request(endpoint.method, url, json=body, headers=owner)
        problem = assert_problem(response, status)
        if status == 422:
            assert (problem["code"], {e["field"] for e in problem["errors"]}) == ("InvalidLabel", {"name"}), name
        elif status == 400:
            assert {e["field"] for e in problem["errors"]} == {"name"}, name

    assert await snapshot(client, owner, world.live) == before


async def test_if_none_match_star_creates_a_label_once_and_then_is_412(client: Client, world: World) -> None:
    member = world.acme.member.headers | {"If-None-Match": "*"}
    url = f"/org-agents/{world.live}/labels/fresh"

    first = await client.put(url, json={"blueprint_id": world.live_v1}, headers=member)
    second = await client.put(url, json={"blueprint_id": world.live_v1}, headers=member)
    on_existing = await client.put(f"/org-agents/{world.live}/labels/staging", json={"blueprint_id": world.live_v1},
                                   headers=member)  # fmt: skip
    other_value = await client.put(url, json={"blueprint_id": world.live_v1},
                                   headers=world.acme.member.headers | {"If-None-Match": '"x"'})  # fmt: skip

    assert first.status_code == 200, first.text
    assert assert_problem(second, 412)["etag"] == world.live_v1
    assert assert_problem(on_existing, 412)["code"] == "LabelChanged"
    assert_problem(other_value, 400)  # only "*" is a condition a move understands


async def test_compile_with_a_reserved_label_names_the_query_parameter(client: Client, world: World) -> None:
    refused = await client.post(
        f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile", params={"label": "latest"},
        headers=world.acme.owner.headers,
    )  # fmt: skip

    assert fields_of(assert_problem(refused, 422)) == {"label"}
