"""Watches over HTTP, on every adapter (PostgreSQL with its change feed on): `GET …/prompt?label=X&wait=S` with
If-None-Match is held while the label still names that version, answered 200 the moment it moves (or 404 when the
agent stops serving), 304 at the timeout; answered at once when there is nothing to wait for.

The app runs on the test's own event loop here: AsyncTestClient runs it on another thread's loop and blocks this one
for each request, so a held watch could never be ended by a second request, nor woken by the change feed, which
listens on this loop. Nothing waits for time: a test waits until the live cache counts the watch (bounded polls)."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import httpx
import pytest

from application.deps import Deps
from application.labels import MoveLabel, move_label_to
from domain.roles import Role
from domain.tokens import secret_hash
from entrypoints import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.contract.conftest import principal
from tests.e2e.conftest import World, assert_problem

pytestmark = [pytest.mark.anyio, pytest.mark.live_cache]

BOUND_S = 10.0  # far above any answer here; only a watch wrongly held to its end (30 to 60 s) reaches it


@pytest.fixture
async def client(deps: Deps, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Replaces conftest's `client` (and so the one `world` is made with): the app on this loop."""
    app = create_app(Settings(database_url=None, data_dir=tmp_path), deps)
    transport = httpx.ASGITransport(app=cast("Any", app))  # Litestar's ASGI types are narrower than httpx's
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        await until(lambda: deps.live.attached, "the live cache never attached to the change feed")
        yield http


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.001)


def etag(version_id: str) -> str:
    return f'"{version_id}"'


@asynccontextmanager
async def watch(
    client: httpx.AsyncClient, world: World, seen: str | None, *, label: str | None = "staging", wait: int = 30
) -> AsyncIterator["asyncio.Task[httpx.Response]"]:
    """A watch in flight (of production when `label` is None): the request as a task, cancelled if the test leaves
    before it is answered."""
    headers = world.acme.member.headers | ({"If-None-Match": seen} if seen else {})
    params: dict[str, Any] = {"wait": wait} | ({"label": label} if label else {})
    task = asyncio.create_task(client.get(f"/org-agents/{world.live}/prompt", params=params, headers=headers))
    try:
        yield task
    finally:
        task.cancel()


async def held(deps: Deps, task: "asyncio.Task[httpx.Response]") -> None:
    await until(lambda: deps.live.watching == 1 or task.done(), "the watch was never held")
    assert not task.done(), task.result().text


async def answered(task: "asyncio.Task[httpx.Response]") -> httpx.Response:
    return await asyncio.wait_for(task, BOUND_S)


async def compile_v2(client: httpx.AsyncClient, world: World) -> None:
    url = f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile"
    done = await client.post(url, headers=world.acme.owner.headers)
    assert done.status_code == 200, done.text


async def move_staging_to_v2(client: httpx.AsyncClient, world: World) -> None:
    """By a member: staging is not protected."""
    url = f"/org-agents/{world.live}/labels/staging"
    moved = await client.put(url, json={"blueprint_id": world.live_v2}, headers=world.acme.member.headers)
    assert moved.status_code == 200, moved.text


async def test_a_watch_is_held_while_the_label_stays_and_answered_when_it_moves(
    client: httpx.AsyncClient, deps: Deps, world: World
) -> None:
    async with watch(client, world, etag(world.live_v1)) as task:
        await held(deps, task)
        await compile_v2(client, world)  # the agent changed, staging did not: the watch looks and waits on
        await held(deps, task)
        await move_staging_to_v2(client, world)
        answer = await answered(task)

    assert answer.status_code == 200, answer.text
    assert (answer.headers["etag"], answer.json()["label"], answer.json()["version"]) == (
        etag(world.live_v2), "staging", 2,
    )  # fmt: skip
    assert deps.live.watching == 0


async def test_a_watch_of_production_is_answered_when_a_version_is_activated(
    client: httpx.AsyncClient, deps: Deps, world: World
) -> None:
    await compile_v2(client, world)
    async with watch(client, world, etag(world.live_v1), label=None) as task:
        await held(deps, task)
        url = f"/org-agents/{world.live}/blueprints/{world.live_v2}/activate"
        activated = await client.post(url, headers=world.acme.owner.headers)
        assert activated.status_code == 200, activated.text
        answer = await answered(task)

    assert (answer.status_code, answer.json()["label"], answer.headers["etag"]) == (
        200, "production", etag(world.live_v2),
    )  # fmt: skip


async def test_a_watch_is_answered_304_at_its_timeout_when_nothing_moved(
    client: httpx.AsyncClient, deps: Deps, world: World
) -> None:
    async with watch(client, world, etag(world.live_v1), wait=1) as task:
        await held(deps, task)
        answer = await answered(task)

    assert (answer.status_code, answer.content, answer.headers["etag"]) == (304, b"", etag(world.live_v1))
    assert deps.live.watching == 0


async def warmed(client: httpx.AsyncClient, deps: Deps, world: World) -> None:
    """Reads staging until the live cache holds the member's principal and staging's prompt: the hot path's case."""
    headers, agent = world.acme.member.headers, UUID(world.live)

    def cached() -> bool:
        who = deps.live.principal(secret_hash(headers["Authorization"].removeprefix("Bearer ")))
        return who is not None and deps.live.prompt(who.org_id, agent, "staging") is not None

    deadline = time.monotonic() + BOUND_S
    while not cached():
        assert time.monotonic() < deadline, "staging's prompt was never held in memory"
        read = await client.get(f"/org-agents/{agent}/prompt", params={"label": "staging"}, headers=headers)
        assert read.status_code == 200, read.text


@pytest.mark.parametrize("stop", ["move", "deactivate"])
async def test_a_watch_held_before_routing_is_answered_as_the_route_answers(
    client: httpx.AsyncClient, deps: Deps, world: World, stop: str, caplog: pytest.LogCaptureFixture
) -> None:
    await warmed(client, deps, world)
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        async with watch(client, world, etag(world.live_v1)) as task:
            await held(deps, task)
            if stop == "move":
                await compile_v2(client, world)
                await held(deps, task)
                await move_staging_to_v2(client, world)
            else:
                deactivated = await client.post(
                    f"/org-agents/{world.live}/deactivate", headers=world.acme.owner.headers
                )
                assert deactivated.status_code == 200, deactivated.text
            answer = await answered(task)

    line = next(
        json.loads(r.getMessage())
        for r in caplog.records
        if json.loads(r.getMessage())["request_id"] == answer.headers["x-request-id"]
    )
    if stop == "move":  # answered where it was held, before routing
        assert (answer.status_code, answer.headers["etag"], line.get("from_memory")) == (200, etag(world.live_v2), True)
    else:  # the use case found nothing live: the route asked again and answered the error
        assert assert_problem(answer, 404)["code"] == "NoLivePrompt"
        assert "from_memory" not in line
    assert deps.live.watching == 0


@pytest.mark.parametrize("stop", ["deactivate", "delete", "delete label"])
async def test_a_watch_is_answered_404_when_the_agent_or_label_stops_serving(
    client: httpx.AsyncClient, deps: Deps, world: World, stop: str
) -> None:
    owner = world.acme.owner.headers
    async with watch(client, world, etag(world.live_v1)) as task:
        await held(deps, task)
        if stop == "deactivate":
            stopped = await client.post(f"/org-agents/{world.live}/deactivate", headers=owner)
        elif stop == "delete":
            stopped = await client.delete(f"/org-agents/{world.live}", headers=owner)
        else:
            stopped = await client.delete(f"/org-agents/{world.live}/labels/staging", headers=owner)
        assert stopped.status_code in {200, 204}, stopped.text
        answer = await answered(task)

    assert assert_problem(answer, 404)["code"] == "NoLivePrompt"
    assert deps.live.watching == 0


async def test_a_watch_with_nothing_to_wait_for_is_answered_at_once(
    client: httpx.AsyncClient, deps: Deps, world: World
) -> None:
    await compile_v2(client, world)
    await move_staging_to_v2(client, world)

    for seen in (None, etag(world.live_v1), "W/" + etag(world.live_v1)):  # none, or a version it no longer names
        async with watch(client, world, seen, wait=60) as task:
            answer = await answered(task)
        assert (answer.status_code, answer.headers["etag"]) == (200, etag(world.live_v2)), seen
    for label, code in (("nightly", "NoLivePrompt"), ("production", None)):
        async with watch(client, world, etag(world.live_v2), label=label, wait=60) as task:
            answer = await answered(task)
        if code:
            assert assert_problem(answer, 404)["code"] == code
        else:  # production is on version 1: it is not what the caller holds
            assert (answer.status_code, answer.headers["etag"]) == (200, etag(world.live_v1))
    foreign = world.globex.member.headers | {"If-None-Match": etag(world.live_v2)}
    response = await asyncio.wait_for(
        client.get(f"/org-agents/{world.live}/prompt", params={"label": "staging", "wait": 60}, headers=foreign),
        BOUND_S,
    )
    assert assert_problem(response, 404)["code"] == "AgentNotFound"
    assert deps.live.watching == 0


async def test_a_watch_is_answered_at_once_when_the_cache_is_detached_or_full(
    client: httpx.AsyncClient, deps: Deps, world: World
) -> None:
    current = etag(world.live_v1)
    async with watch(client, world, current, wait=60) as task:
        await held(deps, task)
        deps.live.detach()  # the change feed went down: nothing would wake the watch
        answer = await answered(task)
    assert (answer.status_code, answer.headers["etag"]) == (304, current)
    async with watch(client, world, current, wait=60) as task:
        assert (await answered(task)).status_code == 304
    deps.live.attach()

    deps.live.max_watchers = 1
    async with watch(client, world, current) as first:
        await held(deps, first)
        async with watch(client, world, current, wait=60) as second:
            assert (await answered(second)).status_code == 304  # over the maximum: answered as it stands
        assert not first.done()
        await compile_v2(client, world)
        await move_staging_to_v2(client, world)
        assert (await answered(first)).headers["etag"] == etag(world.live_v2)


@pytest.mark.parametrize("wait", ["0", "61", "x", "-1", "1.5", ""])
async def test_a_wait_outside_1_to_60_seconds_is_a_bad_request(
    client: httpx.AsyncClient, deps: Deps, world: World, wait: str
) -> None:
    headers = world.acme.member.headers | {"If-None-Match": etag(world.live_v1)}

    params = {"label": "staging", "wait": wait}
    response = await client.get(f"/org-agents/{world.live}/prompt", params=params, headers=headers)

    problem = assert_problem(response, 400)
    assert {e["field"] for e in problem["errors"]} == {"wait"}
    assert deps.live.watching == 0


@pytest.mark.parametrize("deps", ["postgres"], indirect=True)
async def test_a_watch_is_answered_when_another_instance_moves_the_label(
    client: httpx.AsyncClient, deps: Deps, world: World, shared_migrated_database: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=shared_migrated_database, data_dir=tmp_path)
    async with bootstrap.postgres_deps(settings, shared_migrated_database, follow_changes=False) as other:
        admin = await principal(other, "acme", "other-admin", Role.ADMIN)
        await compile_v2(client, world)
        async with watch(client, world, etag(world.live_v1)) as task:
            await held(deps, task)
            # Only the change feed can tell this instance: the other one's own cache is not ours.
            move = MoveLabel(agent_id=UUID(world.live), name="staging", blueprint_id=UUID(world.live_v2))
            await move_label_to(other, admin, move)
            answer = await answered(task)

    assert (answer.status_code, answer.headers["etag"]) == (200, etag(world.live_v2))
