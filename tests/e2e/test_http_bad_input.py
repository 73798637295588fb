"""Whatever a client sends, the answer is the documented 4xx as a problem, never a 500 or a stack trace.

The matrix is about the HTTP layer, so it runs on the memory adapter; the cases where storage could break (lengths,
NUL characters, big documents, wildcards, forged cursors) run on both.
"""

import base64
import json
from typing import Any, Final

import httpx
import msgspec
import pytest

from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import (
    ENDPOINTS,
    LABEL,
    NAMING_A_VERSION,
    ON_A_VERSION,
    ON_AN_AGENT,
    Client,
    Endpoint,
    World,
    assert_problem,
    call,
    fields_of,
    snapshot,
)

pytestmark = pytest.mark.anyio

ON_MEMORY: Final = pytest.mark.parametrize("deps", ["memory"], indirect=True)

SMALL_LIMIT: Final = 64 * 1024
BLUEPRINT_LIMIT: Final = 256 * 1024

WITH_BODY: Final = tuple(e for e in ENDPOINTS if e.body is not None)
BLUEPRINT_BODIES: Final = tuple(e for e in WITH_BODY if "agent_blueprint" in (e.body or {}))
SMALL_BODIES: Final = tuple(e for e in WITH_BODY if e not in BLUEPRINT_BODIES)


def row(method: str, path: str) -> Endpoint:
    return next(e for e in ENDPOINTS if (e.method, e.path) == (method, path))


CREATE: Final = row("POST", "/org-agents")
WITH_BLUEPRINT: Final = row("POST", "/org-agents/with-blueprint")
SEARCH: Final = row("POST", "/org-agents/search")
PUT: Final = row("PUT", "/org-agents/{agent}")
PATCH: Final = row("PATCH", "/org-agents/{agent}")
ADD_VERSION: Final = row("POST", "/org-agents/{agent}/blueprints")
MOVE_LABEL: Final = row("PUT", LABEL)
PROTECT_LABEL: Final = row("PATCH", LABEL)
NAMED: Final = (CREATE, WITH_BLUEPRINT, PUT, PATCH)
HISTORY: Final = "/org-agents/{agent}/labels/staging/history"
AGENT_TRAIL: Final = "/org-agents/{agent}/audit-events"
LISTS: Final = (
    "/org-agents", "/org-agents/{agent}/blueprints", "/org-agents/{agent}/compiled-blueprints", HISTORY, AGENT_TRAIL,
)  # fmt: skip
NOT_UUIDS: Final = ("not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "ffffffff-ffff-4fff-8fff")

MALFORMED_JSON: Final = (b'{"name": ', b"{bad", b"{'name': 'x'}", b'{"name": "x",}', b"\xff\xfe\x00", b"NaN", b"{}}")
NOT_AN_OBJECT: Final = (b"[]", b'"Shop Buddy"', b"42", b"null", b"true", b"[{}]")


def endpoint_id(endpoint: Endpoint) -> str:
    return str(endpoint)


def cursor_of(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def sized(body: dict[str, Any], size: int, *, inside: str | None = None) -> bytes:
    """`body` as JSON of exactly `size` bytes, padded with an extra string (in the `inside` object, if given)."""
    padded = json.loads(json.dumps(body))
    target = padded[inside] if inside else padded
    target["padding"] = ""
    encoded = json.dumps(padded, separators=(",", ":")).encode()
    target["padding"] = "y" * (size - len(encoded))
    result = json.dumps(padded, separators=(",", ":")).encode()
    assert len(result) == size
    return result


def refused(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    problem = assert_problem(response, status)
    if fields:
        assert set(fields) <= fields_of(problem), problem
    return problem


async def send(client: Client, world: World, endpoint: Endpoint, content: bytes) -> httpx.Response:
    headers = world.acme.owner.headers | {"Content-Type": "application/json"}
    return await client.request(
        endpoint.method, endpoint.url(world.live, world.live_v2), content=content, headers=headers
    )


async def send_json(client: Client, world: World, endpoint: Endpoint, body: object) -> httpx.Response:
    return await send(client, world, endpoint, json.dumps(body).encode())


# -- bodies -------------------------------------------------------------------------------------------------------


@ON_MEMORY
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
async def test_a_body_that_is_not_json_is_a_bad_request(client: Client, world: World, endpoint: Endpoint) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)

    for content in MALFORMED_JSON:
        refused(await send(client, world, endpoint, content), 400)
    refused(await send(client, world, endpoint, b""), 400)

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


@ON_MEMORY
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
async def test_json_that_is_not_an_object_is_invalid_content(client: Client, world: World, endpoint: Endpoint) -> None:
    for content in NOT_AN_OBJECT:
        problem = refused(await send(client, world, endpoint, content), 422)
        assert problem["errors"], content


@ON_MEMORY
@pytest.mark.parametrize("endpoint", WITH_BODY, ids=endpoint_id)
async def test_an_unknown_field_is_refused_by_name_never_ignored(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)

    response = await send_json(
        client, world, endpoint, (endpoint.json(world.live, world.live_v2) or {}) | {"surprise": 1}
    )

    refused(response, 422, "surprise")
    assert await snapshot(client, world.acme.owner.headers, world.live) == before


WRONG_TYPES: Final = (
    (CREATE, {"name": 5}, "name"),
    (CREATE, {"name": None}, "name"),
    (CREATE, {"name": ["Shop Buddy"]}, "name"),
    (CREATE, {"name": "x", "description": ["a"]}, "description"),
    (CREATE, {"name": "x", "description": "d" * 10_001}, "description"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": "a document"}, "agent_blueprint"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": [shop_buddy()]}, "agent_blueprint"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": None}, "agent_blueprint"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": {}, "conversation_id": 7}, "conversation_id"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": {}, "conversation_id": ""}, "conversation_id"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": {}, "conversation_id": "c" * 256}, "conversation_id"),
    (WITH_BLUEPRINT, {"name": "x", "agent_blueprint": {"identity": "Shop Buddy"}}, "identity"),
    (SEARCH, {"query": 1}, "query"),
    (SEARCH, {"query": ""}, "query"),
    (SEARCH, {"query": "q" * 256}, "query"),
    (SEARCH, {"query": "x", "limit": "ten"}, "limit"),
    (SEARCH, {"query": "x", "limit": 1.5}, "limit"),
    (SEARCH, {"query": "x", "limit": True}, "limit"),
    (SEARCH, {"query": "x", "limit": 0}, "limit"),
    (SEARCH, {"query": "x", "limit": 101}, "limit"),
    (PUT, {"status": "gone"}, "status"),
    (PUT, {"status": None}, "status"),
    (PUT, {"name": None}, "name"),
    (PATCH, {"name": 5}, "name"),
    (PATCH, {"description": 5}, "description"),
    (PATCH, {"status": "ACTIVE"}, "status"),
    (ADD_VERSION, {"agent_blueprint": "a document"}, "agent_blueprint"),
    (ADD_VERSION, {"agent_blueprint": {}, "conversation_id": ["c"]}, "conversation_id"),
    (ADD_VERSION, {"agent_blueprint": {"identity": "Shop Buddy"}}, "identity"),
    (ADD_VERSION, {"agent_blueprint": {"tools": {"name": "inventory_lookup"}}}, "tools"),
    (MOVE_LABEL, {"blueprint_id": "not-a-uuid"}, "blueprint_id"),
    (MOVE_LABEL, {"blueprint_id": 5}, "blueprint_id"),
    (MOVE_LABEL, {"blueprint_id": None}, "blueprint_id"),
    (MOVE_LABEL, {"blueprint_id": ["ffffffff-ffff-4fff-8fff-ffffffffffff"]}, "blueprint_id"),
    (PROTECT_LABEL, {"protected": "yes"}, "protected"),
    (PROTECT_LABEL, {"protected": 0}, "protected"),
    (PROTECT_LABEL, {"protected": 1}, "protected"),
    (PROTECT_LABEL, {"protected": "true"}, "protected"),
    (PROTECT_LABEL, {"protected": "false"}, "protected"),
    (PROTECT_LABEL, {"protected": [True]}, "protected"),
    (PROTECT_LABEL, {"protected": None}, "protected"),
)


@ON_MEMORY
@pytest.mark.parametrize(
    ("endpoint", "body", "field"), WRONG_TYPES, ids=[f"{e} {field}" for e, _, field in WRONG_TYPES]
)
async def test_a_field_of_the_wrong_type_or_size_is_invalid_content_naming_it(
    client: Client, world: World, endpoint: Endpoint, body: dict[str, Any], field: str
) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)

    refused(await send_json(client, world, endpoint, body), 422, field)

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


@ON_MEMORY
@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        (CREATE, {}, "name"),
        (CREATE, {"description": "no name"}, "name"),
        (WITH_BLUEPRINT, {"name": "x"}, "agent_blueprint"),
        (WITH_BLUEPRINT, {"agent_blueprint": {}}, "name"),
        (SEARCH, {}, "query"),
        (SEARCH, {"limit": 5}, "query"),
        (ADD_VERSION, {}, "agent_blueprint"),
        (ADD_VERSION, {"conversation_id": "c"}, "agent_blueprint"),
        (MOVE_LABEL, {}, "blueprint_id"),
        (PROTECT_LABEL, {}, "protected"),
    ],
    ids=str,
)
async def test_a_missing_required_field_is_invalid_content_naming_it(
    client: Client, world: World, endpoint: Endpoint, body: dict[str, Any], field: str
) -> None:
    refused(await send_json(client, world, endpoint, body), 422, field)


@ON_MEMORY
@pytest.mark.parametrize("endpoint", NAMED, ids=endpoint_id)
@pytest.mark.parametrize("name", ["", " ", "\t\n", "n" * 256, "é" * 256, "a\x00b"], ids=repr)
async def test_a_blank_over_long_or_nul_name_is_invalid_content_naming_name(
    client: Client, world: World, endpoint: Endpoint, name: str
) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)

    refused(await send_json(client, world, endpoint, (endpoint.body or {}) | {"name": name}), 422, "name")

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


@ON_MEMORY
async def test_a_blank_search_query_is_invalid_content_like_an_empty_one(client: Client, world: World) -> None:
    refused(await send_json(client, world, SEARCH, {"query": "   "}), 422, "query")


@ON_MEMORY
async def test_put_and_patch_with_no_fields_change_nothing(client: Client, world: World) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)

    for endpoint in (PUT, PATCH):
        response = await send_json(client, world, endpoint, {})
        assert response.status_code == 200, response.text

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


# -- sizes --------------------------------------------------------------------------------------------------------


@ON_MEMORY
@pytest.mark.parametrize("endpoint", SMALL_BODIES, ids=endpoint_id)
async def test_a_small_body_over_64_kib_is_too_large(client: Client, world: World, endpoint: Endpoint) -> None:
    body = endpoint.json(world.live, world.live_v2)
    assert body is not None
    at_limit = await send(client, world, endpoint, sized(body, SMALL_LIMIT))
    assert at_limit.status_code != 413
    assert at_limit.status_code < 500

    refused(await send(client, world, endpoint, sized(body, SMALL_LIMIT + 1)), 413)


@ON_MEMORY
@pytest.mark.parametrize("endpoint", BLUEPRINT_BODIES, ids=endpoint_id)
async def test_a_blueprint_body_may_be_256_kib_and_not_a_byte_more(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    assert endpoint.body is not None
    at_limit = await send(client, world, endpoint, sized(endpoint.body, BLUEPRINT_LIMIT, inside="agent_blueprint"))
    assert at_limit.status_code == endpoint.ok, at_limit.text[:500]

    too_big = await send(client, world, endpoint, sized(endpoint.body, BLUEPRINT_LIMIT + 1, inside="agent_blueprint"))
    refused(too_big, 413)


@ON_MEMORY
async def test_a_body_nested_too_deeply_to_decode_is_malformed_json(client: Client, world: World) -> None:
    for depth in (2_000, 100_000):
        deep = b'{"agent_blueprint": {"notes": ' + b"[" * depth + b"]" * depth + b"}}"
        refused(await send(client, world, ADD_VERSION, deep), 400)


# -- query and path parameters ------------------------------------------------------------------------------------


BAD_LIMITS: Final = ("0", "101", "-1", "x", "", "1.5", "1e3", "99999999999999999999999")


@ON_MEMORY
@pytest.mark.parametrize("path", LISTS)
async def test_a_limit_outside_1_to_100_is_a_bad_request_naming_limit(client: Client, world: World, path: str) -> None:
    url = path.format(agent=world.live)
    headers = world.acme.member.headers

    for limit in BAD_LIMITS:
        refused(await client.get(url, params={"limit": limit}, headers=headers), 400, "limit")
    for limit in ("1", "100"):
        assert (await client.get(url, params={"limit": limit}, headers=headers)).status_code == 200


@ON_MEMORY
@pytest.mark.parametrize("path", LISTS)
async def test_a_cursor_this_list_did_not_issue_is_a_bad_request_naming_cursor(
    client: Client, world: World, path: str
) -> None:
    url = path.format(agent=world.live)
    other_list = cursor_of({"created_at": "2026-01-01T12:00:00Z", "id": world.live})
    if path in ("/org-agents", HISTORY):
        other_list = cursor_of({"version": 1})
    cursors = [
        "zzz",
        "!!!",
        "",
        "a" * 513,
        cursor_of([]),
        cursor_of({"version": "1"}),
        cursor_of({}),
        other_list,
        cursor_of({"version": 1, "created_at": "2026-01-01T12:00:00Z", "id": world.live}),
        cursor_of({"created_at": "2026-01-01T12:00:00", "id": world.live}),
        cursor_of({"seq": "1"}),
        cursor_of({"seq": 1, "version": 1}),
    ]

    for cursor in cursors:
        refused(await client.get(url, params={"cursor": cursor}, headers=world.acme.member.headers), 400, "cursor")


@ON_MEMORY
async def test_an_unknown_status_filter_is_a_bad_request_naming_status(client: Client, world: World) -> None:
    for status in ("bogus", "", "ACTIVE", "deleted", "active,delete"):
        response = await client.get("/org-agents", params={"status": status}, headers=world.acme.member.headers)
        refused(response, 400, "status")


@ON_MEMORY
async def test_a_bad_conversation_filter_is_a_bad_request_naming_it(client: Client, world: World) -> None:
    url = f"/org-agents/{world.live}/blueprints"

    for conversation in ("", "c" * 256):
        response = await client.get(url, params={"conversation_id": conversation}, headers=world.acme.member.headers)
        refused(response, 400, "conversation_id")


@ON_MEMORY
async def test_an_include_other_than_document_is_a_bad_request_naming_include(client: Client, world: World) -> None:
    for url in (f"/org-agents/{world.live}/blueprints", f"/org-agents/{world.live}/compiled-blueprints"):
        for include in ("", "documents", "DOCUMENT", "prompt", "document,prompt"):
            response = await client.get(url, params={"include": include}, headers=world.acme.member.headers)
            refused(response, 400, "include")


@ON_MEMORY
async def test_compile_with_an_activate_flag_that_is_not_a_boolean_is_a_bad_request(
    client: Client, world: World
) -> None:
    url = f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile"
    before = await snapshot(client, world.acme.owner.headers, world.live)

    for flag in ("maybe", "2", ""):
        refused(await client.post(url, params={"activate": flag}, headers=world.acme.owner.headers), 400, "activate")

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


BAD_LABEL_QUERIES: Final = ("", "Staging", "staging!", "-staging", "s" * 37, "stag ing", "\x00", "é")


@ON_MEMORY
async def test_a_malformed_label_query_is_a_bad_request_naming_label(client: Client, world: World) -> None:
    before = await snapshot(client, world.acme.owner.headers, world.live)
    prompt = f"/org-agents/{world.live}/prompt"
    compile_v1 = f"/org-agents/{world.live}/blueprints/{world.live_v1}/compile"

    for label in BAD_LABEL_QUERIES:
        refused(await client.get(prompt, params={"label": label}, headers=world.acme.member.headers), 400, "label")
        refused(await client.post(compile_v1, params={"label": label}, headers=world.acme.owner.headers), 400, "label")
    for query in ("label", "label=staging&label=production", "label=production&label=staging"):  # none, or two
        refused(await client.get(f"{prompt}?{query}", headers=world.acme.member.headers), 400, "label")
        refused(await client.post(f"{compile_v1}?{query}", headers=world.acme.owner.headers), 400, "label")

    assert await snapshot(client, world.acme.owner.headers, world.live) == before


@ON_MEMORY
async def test_a_wait_outside_1_to_60_seconds_is_a_bad_request_naming_wait(client: Client, world: World) -> None:
    prompt = f"/org-agents/{world.live}/prompt"
    etag = (await client.get(prompt, headers=world.acme.member.headers)).headers["etag"]

    for wait in ("0", "61", "-1", "x", "", "1.5", "1e2", "99999999999999999999999"):
        for headers in ({}, {"If-None-Match": etag}):
            response = await client.get(prompt, params={"wait": wait}, headers=world.acme.member.headers | headers)
            refused(response, 400, "wait")


@ON_MEMORY
@pytest.mark.parametrize("endpoint", ON_AN_AGENT, ids=endpoint_id)
async def test_an_id_that_is_not_a_uuid_is_not_found(client: Client, world: World, endpoint: Endpoint) -> None:
    for bad in NOT_UUIDS:
        refused(await call(client, endpoint, world.acme.owner.headers, bad, world.live_v1), 404)
        if endpoint in ON_A_VERSION:
            refused(await call(client, endpoint, world.acme.owner.headers, world.live, bad), 404)
        elif endpoint in NAMING_A_VERSION:  # in the body, where it is content of the wrong type
            refused(await call(client, endpoint, world.acme.owner.headers, world.live, bad), 422, "blueprint_id")


@ON_MEMORY
@pytest.mark.parametrize("endpoint", ON_AN_AGENT, ids=endpoint_id)
async def test_an_unknown_uuid_is_not_found_naming_the_agent_or_version(
    client: Client, world: World, endpoint: Endpoint
) -> None:
    unknown = "ffffffff-ffff-4fff-8fff-ffffffffffff"

    assert refused(await call(client, endpoint, world.acme.owner.headers, unknown, world.live_v1), 404)["code"] == (
        "AgentNotFound"
    )
    if endpoint in NAMING_A_VERSION:
        problem = refused(await call(client, endpoint, world.acme.owner.headers, world.live, unknown), 404)
        assert problem["code"] == "BlueprintNotFound"


@ON_MEMORY
async def test_an_upper_case_uuid_names_the_same_agent(client: Client, world: World) -> None:
    response = await client.get(f"/org-agents/{world.live.upper()}", headers=world.acme.member.headers)

    assert response.status_code == 200
    assert response.json()["agent"]["id"] == world.live


@ON_MEMORY
async def test_a_method_the_path_does_not_have_is_not_allowed(client: Client, world: World) -> None:
    owner = world.acme.owner.headers

    for method, path in [
        ("DELETE", "/org-agents"),
        ("PUT", f"/org-agents/{world.live}/prompt"),
        ("POST", f"/org-agents/{world.live}"),
        ("GET", "/org-agents/search"),
        ("GET", f"/org-agents/{world.live}/blueprints/{world.live_v1}/compile"),
        ("POST", f"/org-agents/{world.live}/labels"),
        ("POST", f"/org-agents/{world.live}/labels/staging"),
        ("PUT", f"/org-agents/{world.live}/labels/staging/history"),
    ]:
        refused(await client.request(method, path, headers=owner), 405)


@ON_MEMORY
async def test_no_garbage_anywhere_ever_gets_a_500(client: Client, world: World) -> None:
    garbage: list[bytes] = [
        *MALFORMED_JSON,
        *NOT_AN_OBJECT,
        b"",
        b'{"agent_blueprint": {"\\u0000": 1}}',
        b'{"name": "\\ud800"}',
        b'{"query": "%_\\\\"}',
        b'{"name": 1e400}',
        json.dumps({"name": "x", "agent_blueprint": {"identity": {"name": ["x"]}}}).encode(),
    ]

    for endpoint in ENDPOINTS:
        for content in garbage:
            response = await send(client, world, endpoint, content)
            assert response.status_code < 500, (str(endpoint), content, response.text)
            assert "Traceback" not in response.text


TRAIL: Final = "/org-agents/audit-events"
BAD_FILTERS: Final = (
    ("action", "label.moved"),
    ("action", ""),
    ("action", "LABEL.MOVE"),
    ("action", "label.move,agent.create"),
    ("actor", ""),
    ("actor", "a" * 256),
    ("actor", "a\x00b"),
    ("agent_id", "not-a-uuid"),
    ("agent_id", ""),
    ("since", "yesterday"),
    ("since", "2026-01-01"),
    ("since", "2026-01-01T00:00:00"),
    ("since", ""),
    ("until", "2026-13-01T00:00:00Z"),
    ("until", "2026-01-01T00:00:00"),
    ("until", "0.5"),  # Litestar alone would take a number as seconds since 1970
    ("since", "1767268800"),
)


@ON_MEMORY
@pytest.mark.parametrize(("name", "value"), BAD_FILTERS, ids=repr)
async def test_a_bad_filter_of_the_organizations_trail_is_a_bad_request_naming_it(
    client: Client, world: World, name: str, value: str
) -> None:
    refused(await client.get(TRAIL, params={name: value}, headers=world.acme.owner.headers), 400, name)


@ON_MEMORY
async def test_a_time_range_ending_before_it_starts_or_a_filter_given_twice_is_a_bad_request(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    empty = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-02T01:00:00+01:00"}  # the same instant: nothing
    assert (await client.get(TRAIL, params=empty, headers=owner)).json() == {"items": [], "next_cursor": None}

    backwards = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-02T00:59:59+01:00"}
    refused(await client.get(TRAIL, params=backwards, headers=owner), 400, "since")
    for name, one, other in [
        ("action", "label.move", "agent.create"),
        ("actor", "acme-owner", "acme-admin"),
        ("agent_id", world.live, world.other),
        ("since", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("until", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ]:
        refused(await client.get(TRAIL, params=[(name, one), (name, other)], headers=owner), 400, name)


@ON_MEMORY
async def test_the_organizations_trail_checks_its_limit_and_cursor_like_every_list(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers

    for limit in BAD_LIMITS:
        refused(await client.get(TRAIL, params={"limit": limit}, headers=owner), 400, "limit")
    for cursor in (
        "zzz",
        cursor_of({"created_at": "2026-01-01T12:00:00Z", "id": world.live}),  # the agents list's
        cursor_of({"occurred_at": "2026-01-01T12:00:00", "id": world.live}),  # no time zone
        cursor_of({"occurred_at": "2026-01-01T12:00:00Z"}),
        cursor_of({"occurred_at": "2026-01-01T12:00:00Z", "id": "x"}),
        cursor_of({"occurred_at": "2026-01-01T12:00:00Z", "id": world.live, "agent_id": world.live}),
    ):
        refused(await client.get(TRAIL, params={"cursor": cursor}, headers=owner), 400, "cursor")


# -- where storage could break: on every adapter -------------------------------------------------------------------


async def test_times_and_cursors_at_the_ends_of_the_calendar_are_answered_not_crashed(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    everything = (await client.get(TRAIL, params={"limit": 100}, headers=owner)).json()["items"]
    highest = "ffffffff-ffff-ffff-ffff-ffffffffffff"

    for params, expected in [
        ({"since": "9999-12-31T23:59:59-05:00"}, []),  # after the last instant Python can name in UTC
        ({"until": "0001-01-01T00:00:00+05:00"}, []),  # before the first
        ({"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"}, everything),
        ({"cursor": cursor_of({"occurred_at": "9999-12-31T23:59:59-05:00", "id": highest})}, everything),
        ({"cursor": cursor_of({"occurred_at": "0001-01-01T00:00:00+05:00", "id": highest})}, []),
    ]:
        response = await client.get(TRAIL, params=params | {"limit": 100}, headers=owner)
        assert response.status_code == 200, (params, response.text)
        assert response.json()["items"] == expected, params


async def test_a_name_of_exactly_255_characters_is_kept_verbatim_and_256_are_refused(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    for name in ("n" * 255, "🛍" * 255, "ü" * 255):
        made = await client.post("/org-agents", json={"name": name}, headers=owner)
        assert made.status_code == 201, made.text[:300]
        assert (await client.get(made.headers["location"], headers=owner)).json()["agent"]["name"] == name
        refused(await client.post("/org-agents", json={"name": name + name[0]}, headers=owner), 422, "name")


async def test_nul_characters_are_refused_naming_the_field_not_stored_or_crashed(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    before = await snapshot(client, owner, world.live)

    cases = [
        (CREATE, {"name": "x", "description": "a\x00b"}, "description"),
        (PATCH, {"description": "a\x00b"}, "description"),
        (ADD_VERSION, {"agent_blueprint": {"identity": {"name": "a\x00b"}}}, "identity.name"),
        (ADD_VERSION, {"agent_blueprint": {"notes": ["ok", "a\x00b"]}}, "notes[1]"),
        (ADD_VERSION, {"agent_blueprint": {"no\x00te": 1}}, "no\x00te"),
        (ADD_VERSION, {"agent_blueprint": {}, "conversation_id": "c\x00"}, "conversation_id"),
    ]
    for endpoint, body, field in cases:
        refused(await send_json(client, world, endpoint, body), 422, field)

    assert await snapshot(client, owner, world.live) == before


async def test_a_blueprint_just_under_256_kib_is_stored_and_read_back_verbatim(client: Client, world: World) -> None:
    doc = shop_buddy() | {"notes": ["ünïcödé ✓ " * 100] * 160}
    content = msgspec.json.encode({"agent_blueprint": doc})
    assert BLUEPRINT_LIMIT - 16 * 1024 < len(content) <= BLUEPRINT_LIMIT

    made = await send(client, world, ADD_VERSION, content)

    assert made.status_code == 201, made.text[:300]
    read = await client.get(made.headers["location"], headers=world.acme.member.headers)
    assert read.json()["agent_blueprint"] == doc


async def test_search_treats_wildcards_and_backslashes_as_plain_text(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    percent = (await client.post("/org-agents", json={"name": "100% cotton"}, headers=owner)).json()["id"]
    under = (await client.post("/org-agents", json={"name": "snake_case"}, headers=owner)).json()["id"]
    slash = (await client.post("/org-agents", json={"name": "back\\slash"}, headers=owner)).json()["id"]

    async def found(query: str) -> list[str]:
        response = await client.post("/org-agents/search", json={"query": query}, headers=owner)
        assert response.status_code == 200, response.text
        return [agent["id"] for agent in response.json()["items"]]

    assert await found("%") == [percent]
    assert await found("_") == [under]
    assert await found("\\") == [slash]
    assert await found("e_c") == [under]
    assert await found("%%") == []


async def test_a_forged_cursor_with_numbers_storage_cannot_hold_is_a_bad_request(client: Client, world: World) -> None:
    headers = world.acme.member.headers
    versions = f"/org-agents/{world.live}/blueprints"

    for cursor in (cursor_of({"version": 2**31}), cursor_of({"version": 10**30}), cursor_of({"version": -(2**63) - 1})):
        for url in (versions, f"/org-agents/{world.live}/compiled-blueprints"):
            response = await client.get(url, params={"cursor": cursor}, headers=headers)
            assert response.status_code in {200, 400}, response.text
            if response.status_code == 400:
                refused(response, 400, "cursor")
    for cursor in (cursor_of({"seq": 2**31}), cursor_of({"seq": 10**30}), cursor_of({"seq": -(2**63) - 1})):
        response = await client.get(f"/org-agents/{world.live}/labels/staging/history", params={"cursor": cursor},
                                    headers=headers)  # fmt: skip
        assert response.status_code in {200, 400}, response.text
        if response.status_code == 400:
            refused(response, 400, "cursor")
    far_future = cursor_of({"created_at": "9999-12-31T23:59:59Z", "id": world.live})
    response = await client.get("/org-agents", params={"cursor": far_future}, headers=headers)
    assert response.status_code in {200, 400}, response.text


async def test_the_page_size_bounds_hold_on_storage(client: Client, world: World) -> None:
    headers = world.acme.member.headers
    for limit, expected in ((1, 1), (100, 2)):
        page = (await client.get("/org-agents", params={"limit": limit}, headers=headers)).json()
        assert len(page["items"]) == expected
    refused(await client.get("/org-agents", params={"limit": 101}, headers=headers), 400, "limit")
