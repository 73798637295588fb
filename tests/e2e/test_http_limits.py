"""What one client may ask (issue 20, item 5): a request rate per credential, on every path (the hot path, routed
routes, routes without a token); failed authentications per address; a deadline for a request's body. Each refusal
is a problem with its documented status: 429 with Retry-After, 408.

The limits count on a clock the test moves (each app's RequestLimits take one), so no test waits for a bucket."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from application.deps import Deps
from domain.roles import Role
from entrypoints.http.app import create_app
from entrypoints.http.limits import RequestLimits
from entrypoints.settings import Settings
from tests.e2e.conftest import Client, World, assert_problem, caller

pytestmark = [pytest.mark.anyio, pytest.mark.live_cache]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited(client: Client, *, rate: float | None = None, failures: float | None = None) -> Clock:
    """The client's app, from now on counting on a clock of the test's."""
    clock = Clock()
    client.app.state.limits = RequestLimits(rate=rate, failure_rate=failures, body_timeout_s=30, clock=clock)
    return clock


def assert_rate_limited(response: Any, retry_after: str = "1") -> None:
    body = assert_problem(response, 429)
    assert body["code"] == "RateLimited", body
    assert response.headers["retry-after"] == retry_after, response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


async def test_a_credential_past_its_rate_is_refused_on_the_hot_path_and_routed_alike_until_it_refills(
    client: Client, world: World
) -> None:
    member, other = world.acme.member.headers, world.acme.owner.headers
    prompt = f"/org-agents/{world.live}/prompt"
    assert (await client.get(prompt, headers=member)).status_code == 200  # the prompt is cached from here on
    clock = limited(client, rate=2)  # bursts of 4
    for path in (prompt, prompt, f"/org-agents/{world.live}", "/whoami"):
        assert (await client.get(path, headers=member)).status_code == 200
    for path in (prompt, f"/org-agents/{world.live}", "/org-agents"):  # from memory, routed: one bucket
        assert_rate_limited(await client.get(path, headers=member))
    assert (await client.get(prompt, headers=other)).status_code == 200  # another credential, its own bucket
    scheme_case = {"Authorization": member["Authorization"].replace("Bearer", "bEARER")}
    assert_rate_limited(await client.get(prompt, headers=scheme_case))  # the same credential
    clock.now += 0.5  # one request's worth
    assert (await client.get(prompt, headers=member)).status_code == 200
    assert_rate_limited(await client.get(prompt, headers=member))
    clock.now += 2
    for _ in range(4):
        assert (await client.get(prompt, headers=member)).status_code == 200


async def test_the_wait_it_says_is_how_long_the_bucket_takes_to_refill_one(client: Client, world: World) -> None:
    clock = limited(client, rate=0.25)  # one every 4 s; a burst of 1 (rates below one still allow one)
    member = world.acme.member.headers
    assert (await client.get("/whoami", headers=member)).status_code == 200
    assert_rate_limited(await client.get("/whoami", headers=member), retry_after="4")
    clock.now += 3
    assert_rate_limited(await client.get("/whoami", headers=member), retry_after="1")
    clock.now += 1
    assert (await client.get("/whoami", headers=member)).status_code == 200


async def test_requests_without_a_credential_are_counted_by_address_the_revoke_route_included(
    client: Client, world: World
) -> None:
    limited(client, rate=1)  # bursts of 2
    leaked = {"secret": "oat_" + "A" * 43}
    for _ in range(2):
        assert (await client.post("/tokens/revoke", json=leaked)).status_code in {404, 422}
    assert_rate_limited(await client.post("/tokens/revoke", json=leaked))
    assert_rate_limited(await client.get("/health"))
    assert (await client.get("/health", headers=world.acme.owner.headers)).status_code == 200  # a credential's own


async def test_failed_authentications_from_an_address_stop_it_but_keys_already_known_go_on(
    client: Client, deps: Deps, world: World
) -> None:
    owner = world.acme.owner.headers
    assert (await client.get("/whoami", headers=owner)).status_code == 200  # known (cached) from here on
    clock = limited(client, failures=1)  # ten failures at once, then one a second
    for _ in range(30):  # one credential retried (a key that expired) is one failure, however often
        assert_problem(await client.get("/org-agents", headers={"Authorization": "Bearer oat_expired"}), 401)
    for _ in range(30):  # and no credential at all cost no lookup: none
        assert_problem(await client.get("/org-agents"), 401)
    wrong = [{"Authorization": f"Bearer oat_wrong{n}"} for n in range(10)]
    for headers in wrong[:9]:
        assert_problem(await client.get("/org-agents", headers=headers), 401)
    refused = await client.get("/org-agents", headers=wrong[9])
    assert_rate_limited(refused)
    assert "failed authentications" in refused.json()["detail"]
    assert_rate_limited(await client.get("/health"))  # no credential: nothing known about it
    fresh = await caller(deps, "acme", "acme-newcomer", Role.MEMBER)  # good, but not known to this worker yet
    assert_rate_limited(await client.get("/whoami", headers=fresh.headers))
    assert (await client.get("/whoami", headers=owner)).status_code == 200
    assert (await client.get(f"/org-agents/{world.live}/prompt", headers=owner)).status_code == 200
    clock.now += 1
    assert (await client.get("/whoami", headers=fresh.headers)).status_code == 200
    assert_problem(await client.get("/org-agents", headers={"Authorization": "Bearer oat_new"}), 401)  # spent
    assert_rate_limited(await client.get("/org-agents", headers={"Authorization": "Bearer oat_newer"}))


async def test_a_body_that_stalls_is_refused_with_408_and_a_watch_is_not_held_to_the_deadline(
    deps: Deps, world: World, tmp_path: Path
) -> None:
    app = create_app(Settings(database_url=None, data_dir=tmp_path, client_timeout_s=0.2), deps)
    async with AsyncTestClient(app) as client:
        owner, member = world.acme.owner.headers, world.acme.member.headers
        before = (await client.get("/org-agents", headers=owner)).json()["items"]
        sent: list[dict[str, Any]] = []
        parts = [{"type": "http.request", "body": b'{"name": ', "more_body": True}]

        async def stalling() -> dict[str, Any]:
            if parts:
                return parts.pop()
            await asyncio.Event().wait()  # the rest never comes
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        authorization = world.acme.owner.headers["Authorization"].encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/org-agents", "raw_path": b"/org-agents", "query_string": b"", "root_path": "",
            "headers": [(b"authorization", authorization), (b"content-type", b"application/json"),
                        (b"content-length", b"1000"), (b"host", b"test")],
            "client": ("127.0.0.1", 50000), "server": ("test", 80), "state": {},
        }  # fmt: skip
        await asyncio.wait_for(app(scope, stalling, send), timeout=10)  # type: ignore[arg-type]
        assert sent[0]["status"] == 408, sent
        assert b'"RequestTimeout"' in sent[1]["body"], sent
        assert (await client.get("/org-agents", headers=owner)).json()["items"] == before  # nothing made

        prompt = f"/org-agents/{world.live}/prompt"
        etag = (await client.get(prompt, headers=member)).headers["etag"]
        held = await client.get(f"{prompt}?wait=1", headers=member | {"If-None-Match": etag})
        assert held.status_code == 304, held.text  # held to its own wait, past the client timeout
