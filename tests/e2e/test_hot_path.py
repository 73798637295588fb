"""The hot path (entrypoints/http/hot_path.py) answers a live prompt the cache holds exactly as the Litestar route
would, and leaves everything else to the route. On both adapters: memory tells its cache of commits at once,
PostgreSQL through the change feed."""

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from application.deps import Deps
from domain.blueprints import LivePrompt
from domain.roles import Principal
from domain.tokens import secret_hash
from entrypoints.http.hot_path import answer_from_memory
from entrypoints.http.live_prompt import RenderedAnswers
from tests.e2e.conftest import Client, World, assert_problem

__all__ = ["World"]

pytestmark = pytest.mark.anyio

SAME_ID = {"X-Request-ID": "compare-1"}


async def held(client: Client, deps: Deps, world: World) -> Principal:
    """Fetch until both the principal and the prompt are in memory (a read racing the notice of the compile that
    made it live is not kept; a later one is). Polls; asserts no timing."""
    secret = world.acme.member.headers["Authorization"].removeprefix("Bearer ")
    deadline = time.monotonic() + 5
    while True:
        answer = await client.get(f"/org-agents/{world.live}/prompt", headers=world.acme.member.headers)
        assert answer.status_code == 200, answer.text
        who = deps.live.principal(secret_hash(secret))
        if who is not None and deps.live.prompt(who.org_id, UUID(world.live)) is not None:
            return who
        assert time.monotonic() < deadline, "the live prompt was never held in memory"
        await asyncio.sleep(0.005)


def scope_for(path: str, headers: dict[str, str]) -> Any:
    return {
        "type": "http", "method": "GET", "path": path, "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip


async def test_a_held_prompt_is_answered_without_litestar(client: Client, deps: Deps, world: World) -> None:
    await held(client, deps, world)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    headers = world.acme.member.headers | SAME_ID
    assert await answer_from_memory(
        deps, client.app.state.rendered, scope_for(f"/org-agents/{world.live}/prompt", headers), send
    )
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    # Not held, so not answered here: another organization's token, an unknown agent, no token, a detached cache.
    for path, who in (
        (f"/org-agents/{world.live}/prompt", world.globex.member.headers),
        (f"/org-agents/{world.other}/prompt", world.acme.member.headers),
        (f"/org-agents/{world.live}/prompt", {}),
        (f"/org-agents/{world.live.upper()}/prompt", world.acme.member.headers),
    ):
        assert not await answer_from_memory(deps, client.app.state.rendered, scope_for(path, who), send), path
    deps.live.detach()
    assert not await answer_from_memory(
        deps, client.app.state.rendered, scope_for(f"/org-agents/{world.live}/prompt", headers), send
    )
    assert len(sent) == 2


async def test_the_hot_path_and_the_route_answer_byte_for_byte_alike(client: Client, deps: Deps, world: World) -> None:
    await held(client, deps, world)
    path = f"/org-agents/{world.live}/prompt"
    headers = world.acme.member.headers | SAME_ID
    fast = await client.get(path, headers=headers)
    fast_304 = await client.get(path, headers=headers | {"If-None-Match": fast.headers["etag"]})
    deps.live.detach()  # from here on, every request goes through Litestar
    routed = await client.get(path, headers=headers)
    routed_304 = await client.get(path, headers=headers | {"If-None-Match": fast.headers["etag"]})

    def seen(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
        return response.status_code, response.content, sorted(response.headers.multi_items())

    assert seen(fast) == seen(routed)
    assert seen(fast_304) == seen(routed_304)
    assert fast.status_code == 200
    assert fast_304.status_code == 304


async def test_what_the_cache_cannot_answer_gets_the_routes_answer(client: Client, deps: Deps, world: World) -> None:
    await held(client, deps, world)
    path = f"/org-agents/{world.live}/prompt"
    assert_problem(await client.get(path), 401)
    assert_problem(await client.get(path, headers={"Authorization": "Bearer oat_not-a-token"}), 401)
    assert_problem(await client.get(path, headers=world.globex.member.headers), 404)
    assert_problem(await client.get(f"/org-agents/{world.other}/prompt", headers=world.acme.member.headers), 404)
    assert (await client.post(path, headers=world.acme.member.headers)).status_code == 405
    lower = await client.get(path, headers={"Authorization": world.acme.member.headers["Authorization"].lower()})
    assert lower.status_code == 401  # the secret is case-sensitive, whatever path answers
    scheme = {"Authorization": world.acme.member.headers["Authorization"].replace("Bearer", "bearer")}
    assert (await client.get(path, headers=scheme)).status_code == 200  # the scheme is not


def test_rendered_answers_are_bounded_by_their_bytes_oldest_out_first() -> None:
    def live(n: int) -> LivePrompt:
        return LivePrompt(
            agent_id=UUID(int=n), blueprint_id=UUID(int=1000 + n), version=1,
            compiled_system_prompt="x" * 1000, compiled_at=datetime(2026, 1, 1, tzinfo=UTC),
        )  # fmt: skip

    size = len(RenderedAnswers().of(live(0)).body)
    bodies = RenderedAnswers(max_bytes=3 * size)
    first = [bodies.of(live(n)) for n in range(3)]
    assert all(bodies.of(live(n)) is first[n] for n in range(3))  # kept: the same object comes back
    bodies.of(live(3))
    assert bodies.of(live(0)) is not first[0]  # the oldest went out, so it was rendered again
    assert bodies.of(live(2)) is first[2]


async def test_both_answers_log_the_same_route_and_the_hot_path_says_it_answered_from_memory(
    client: Client, deps: Deps, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await held(client, deps, world)
    path = f"/org-agents/{world.live}/prompt"
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        await client.get(path, headers=world.acme.member.headers | {"X-Request-ID": "fast"})
        deps.live.detach()
        await client.get(path, headers=world.acme.member.headers | {"X-Request-ID": "routed"})
    lines = {line["request_id"]: line for line in (json.loads(r.getMessage()) for r in caplog.records)}
    assert lines["fast"].pop("from_memory") is True
    assert "from_memory" not in lines["routed"]
    for line in lines.values():
        line.pop("duration_ms")
        line.pop("request_id")
    assert (
        lines["fast"] == lines["routed"] == {"method": "GET", "route": "/org-agents/{agent_id}/prompt", "status": 200}
    )
