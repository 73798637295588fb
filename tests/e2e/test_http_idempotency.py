"""Idempotency-Key on the creating POSTs: a retry gets the first answer, byte for byte, and creates nothing."""

import pytest

from application.deps import Deps
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import Client, assert_problem, team

pytestmark = pytest.mark.anyio


async def test_retries_of_every_create_get_the_first_answer_and_create_nothing(client: Client, deps: Deps) -> None:
    member = (await team(deps, "acme")).member.headers
    made = await client.post(
        "/org-agents/with-blueprint",
        json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()},
        headers=member | {"Idempotency-Key": "a"},
    )
    base = made.headers["location"]
    calls = [
        ("/org-agents", {"name": "Other"}, "b"),
        ("/org-agents/with-blueprint", {"name": "Shop Buddy", "agent_blueprint": shop_buddy()}, "a"),
        (f"{base}/blueprints", {"agent_blueprint": shop_buddy()}, "c"),
    ]
    for path, body, key in calls:
        first = await client.post(path, json=body, headers=member | {"Idempotency-Key": key})
        retry = await client.post(path, json=body, headers=member | {"Idempotency-Key": key})
        assert first.status_code == retry.status_code == 201, retry.text
        # The same JSON (a document's keys may come in the order storage keeps them: application/idempotency.py).
        assert (retry.json(), retry.headers["location"]) == (first.json(), first.headers["location"])

    agents = (await client.get("/org-agents", headers=member)).json()["items"]
    versions = (await client.get(f"{base}/blueprints", headers=member)).json()["items"]
    assert (len(agents), [v["version"] for v in versions]) == (2, [2, 1])


async def test_a_key_reused_for_another_body_is_422_and_a_bad_key_is_400(client: Client, deps: Deps) -> None:
    member = (await team(deps, "acme")).member.headers
    await client.post("/org-agents", json={"name": "Shop Buddy"}, headers=member | {"Idempotency-Key": "k"})

    reused = await client.post("/org-agents", json={"name": "Other"}, headers=member | {"Idempotency-Key": "k"})
    bad = await client.post("/org-agents", json={"name": "Other"}, headers=member | {"Idempotency-Key": "x" * 256})

    assert assert_problem(reused, 422)["code"] == "IdempotencyKeyReused"
    assert assert_problem(bad, 400)["errors"] == [
        {"field": "Idempotency-Key", "message": "1 to 255 visible ASCII characters"}
    ]
    assert len((await client.get("/org-agents", headers=member)).json()["items"]) == 1
