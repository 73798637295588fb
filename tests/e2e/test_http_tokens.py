"""Keys over HTTP: owners and admins create (the secret once), list and revoke them; a leaked one is revoked by
pasting it; `/whoami` names the organization and the key; a `prompt` key only reads prompts, until it expires."""

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from application.deps import Deps
from tests.e2e.conftest import Client, World, assert_problem, fields_of

if TYPE_CHECKING:
    from tests.doubles import FixedClock

pytestmark = pytest.mark.anyio

UNKNOWN_ID = "ffffffff-ffff-4fff-8fff-fffffffffff3"


async def mint(client: Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    made = await client.post("/tokens", json={"user_id": "bo", "role": "member"} | body, headers=headers)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    assert made.headers["location"] == f"/tokens/{answer['token']['id']}"
    return answer


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_key_is_shown_once_listed_without_its_secret_and_refused_once_revoked(
    client: Client, world: World
) -> None:
    owner = world.acme.owner.headers
    made = await mint(client, owner, name="CI deploys", role="admin")

    listed = await client.get("/tokens", headers=owner)
    one = await client.get(f"/tokens/{made['token']['id']}", headers=owner)
    assert made["secret"] not in listed.text + one.text
    assert made["token"] in listed.json()["items"]
    assert one.json() == made["token"]
    assert (made["token"]["name"], made["token"]["scope"], made["token"]["revoked_at"]) == (
        "CI deploys",
        "manage",
        None,
    )
    assert (await client.get("/org-agents", headers=bearer(made["secret"]))).status_code == 200

    assert (await client.delete(f"/tokens/{made['token']['id']}", headers=owner)).status_code == 204
    assert (await client.delete(f"/tokens/{made['token']['id']}", headers=owner)).status_code == 204

    assert_problem(await client.get("/org-agents", headers=bearer(made["secret"])), 401)
    assert (await client.get(f"/tokens/{made['token']['id']}", headers=owner)).json()["revoked_at"] is not None


async def test_another_organizations_key_does_not_exist_for_the_caller(client: Client, world: World) -> None:
    foreign = world.acme.member.token_id
    intruder = world.globex.owner.headers

    for method in ("GET", "DELETE"):
        seen = await client.request(method, f"/tokens/{foreign}", headers=intruder)
        unknown = await client.request(method, f"/tokens/{UNKNOWN_ID}", headers=intruder)
        assert assert_problem(seen, 404)["code"] == "TokenNotFound"
        assert seen.text.replace(foreign, UNKNOWN_ID) == unknown.text
    assert foreign not in (await client.get("/tokens", headers=intruder)).text
    assert (await client.get("/org-agents", headers=world.acme.member.headers)).status_code == 200


async def test_admins_handle_admin_and_member_keys_but_not_owners(client: Client, world: World) -> None:
    admin = world.acme.admin.headers

    refused = await client.post("/tokens", json={"user_id": "oz", "role": "owner"}, headers=admin)
    not_theirs = await client.delete(f"/tokens/{world.acme.owner.token_id}", headers=admin)

    assert assert_problem(refused, 403)["code"] == "RoleTooLow"
    assert assert_problem(not_theirs, 403)["code"] == "RoleTooLow"
    assert (await client.get("/org-agents", headers=world.acme.owner.headers)).status_code == 200
    assert (await client.delete(f"/tokens/{world.acme.member.token_id}", headers=admin)).status_code == 204
    assert (
        await client.get(f"/tokens/{world.acme.member.token_id}", headers=world.acme.member.headers)
    ).status_code == 401


async def test_a_leaked_key_is_revoked_by_pasting_it_with_no_other_credential(client: Client, world: World) -> None:
    leaked = await mint(client, world.acme.owner.headers)

    first = await client.post("/tokens/revoke", json={"secret": leaked["secret"]})
    again = await client.post("/tokens/revoke", json={"secret": leaked["secret"]})

    assert (first.status_code, again.status_code) == (204, 204)
    assert_problem(await client.get("/whoami", headers=bearer(leaked["secret"])), 401)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"secret": "oat_" + "x" * 43}, 404, None),  # well formed, held by nobody
        ({"secret": "oat_" + "x" * 49}, 422, "secret"),  # its checksum is wrong
        ({"secret": "password"}, 422, "secret"),
        ({"secret": ""}, 422, "secret"),
        ({"secret": 42}, 422, "secret"),
        ({}, 422, "secret"),
        ({"secret": "oat_" + "x" * 43, "also": 1}, 422, "also"),
    ],
)
async def test_revoking_by_value_answers_what_is_wrong(
    client: Client, world: World, body: dict[str, Any], status: int, field: str | None
) -> None:
    answer = assert_problem(await client.post("/tokens/revoke", json=body), status)

    assert fields_of(answer) == ({field} if field else set())
    assert (await client.get("/org-agents", headers=world.acme.member.headers)).status_code == 200


async def test_revoking_by_value_without_a_body_or_with_junk_is_malformed(client: Client) -> None:
    assert_problem(await client.post("/tokens/revoke"), 400)
    assert_problem(
        await client.post("/tokens/revoke", content=b"{nope", headers={"content-type": "application/json"}), 400
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "bo", "role": "member", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),  # past
        ({"user_id": "bo", "role": "member", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no zone
        ({"user_id": "bo", "role": "member", "expires_at": "soon"}, "expires_at"),
        ({"user_id": "bo", "role": "member", "scope": "everything"}, "scope"),
        ({"user_id": "bo", "role": "king"}, "role"),
        ({"user_id": "", "role": "member"}, "user_id"),
        ({"user_id": "   ", "role": "member"}, "user_id"),
        ({"user_id": "bo", "role": "member", "name": "n" * 101}, "name"),
        ({"user_id": "bo", "role": "member", "secret": "oat_mine"}, "secret"),
        ({"role": "member"}, "user_id"),
    ],
)
async def test_a_bad_key_request_names_its_field_and_makes_nothing(
    client: Client, world: World, body: dict[str, Any], field: str
) -> None:
    owner = world.acme.owner.headers
    before = (await client.get("/tokens", headers=owner)).json()

    answer = assert_problem(await client.post("/tokens", json=body, headers=owner), 422)

    assert fields_of(answer) == {field}
    assert (await client.get("/tokens", headers=owner)).json() == before


async def test_whoami_names_the_organization_and_the_key(client: Client, world: World) -> None:
    made = await mint(
        client, world.acme.owner.headers, scope="prompt", name="runtime", expires_at="2030-01-01T00:00:00Z"
    )

    me = (await client.get("/whoami", headers=bearer(made["secret"]))).json()

    assert me["org_name"] == "acme"
    assert (me["user_id"], me["role"], me["scope"]) == ("bo", "member", "prompt")
    assert (me["token_id"], me["token_name"]) == (made["token"]["id"], "runtime")
    assert me["expires_at"].startswith("2030-01-01T00:00:00")


async def test_a_runtime_key_reads_its_prompt_from_memory_and_nothing_else_until_it_expires(
    client: Client, deps: Deps, world: World
) -> None:
    clock = cast("FixedClock", deps.clock)
    expires = (clock.now() + timedelta(minutes=5)).isoformat()
    runtime = bearer((await mint(client, world.acme.owner.headers, scope="prompt", expires_at=expires))["secret"])
    prompt = f"/org-agents/{world.live}/prompt"

    assert (await client.get(prompt, headers=runtime)).status_code == 200
    assert (await client.get(prompt, headers=runtime)).status_code == 200  # the hot path: principal and prompt cached
    assert (await client.get(prompt, params={"label": "staging"}, headers=runtime)).status_code == 200
    assert (
        assert_problem(await client.get(f"/org-agents/{world.live}", headers=runtime), 403)["code"] == "ScopeTooNarrow"
    )
    assert assert_problem(await client.post("/tokens/revoke", json={"secret": "x"}, headers=runtime), 422)

    clock.advance(5 * 60)

    for path in (prompt, f"{prompt}?label=staging", "/whoami"):
        assert_problem(await client.get(path, headers=runtime), 401)
