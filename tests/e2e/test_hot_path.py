"""The hot path (entrypoints/http/hot_path.py) answers a live prompt the cache holds exactly as the Litestar route
would, and leaves everything else to the route. On both adapters: memory tells its cache of commits at once,
PostgreSQL through the change feed."""

import asyncio
import json
import logging
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from litestar.testing import AsyncTestClient

from application.deps import Deps
from application.tokens import RevokeToken, revoke_token
from domain.blueprints import LivePrompt
from domain.labels import PRODUCTION
from domain.roles import Principal
from domain.tokens import secret_hash
from entrypoints.bootstrap import memory_deps
from entrypoints.http.app import create_app
from entrypoints.http.hot_path import answer_from_memory, asked
from entrypoints.http.live_prompt import RenderedAnswers
from entrypoints.settings import Settings
from tests.doubles import FixedClock, SequentialIds
from tests.e2e.conftest import Client, World, assert_problem, team
from tests.samples import shop_buddy

__all__ = ["World"]

pytestmark = [pytest.mark.anyio, pytest.mark.live_cache]

SAME_ID = {"X-Request-ID": "compare-1"}


async def held(client: Client, deps: Deps, world: World, label: str = PRODUCTION) -> Principal:
    """Fetch until both the principal and the label's prompt are in memory (a read racing the notice of the compile
    that made it live is not kept; a later one is). Polls; asserts no timing."""
    secret = world.acme.member.headers["Authorization"].removeprefix("Bearer ")
    deadline = time.monotonic() + 5
    while True:
        answer = await client.get(
            f"/org-agents/{world.live}/prompt", params={"label": label}, headers=world.acme.member.headers
        )
        assert answer.status_code == 200, answer.text
        who = deps.live.principal(secret_hash(secret))
        if who is not None and deps.live.prompt(who.org_id, UUID(world.live), label) is not None:
            return who
        assert time.monotonic() < deadline, "the live prompt was never held in memory"
        await asyncio.sleep(0.005)


def scope_for(path: str, headers: dict[str, str], query: bytes = b"") -> Any:
    return {
        "type": "http", "method": "GET", "path": path, "query_string": query,
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
    # Not held, so not answered here: another organization's token, an unknown agent, no token, an id not written as
    # the hot path matches it, a detached cache.
    for path, who in (
        (f"/org-agents/{world.live}/prompt", world.globex.member.headers),
        (f"/org-agents/{world.other}/prompt", world.acme.member.headers),
        (f"/org-agents/{world.live}/prompt", {}),
        (f"/org-agents/{world.live.replace('-', '')}/prompt", world.acme.member.headers),  # not the canonical form
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
            compiled_system_prompt="x" * 1000, compiled_at=datetime(2026, 1, 1, tzinfo=UTC), label="production",
        )  # fmt: skip

    size = RenderedAnswers().of(live(0)).size  # its body and its prompt
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


async def test_two_apps_in_one_process_each_answer_their_own_prompt_on_every_cached_hit(tmp_path: Path) -> None:
    # With sequential ids both apps give their agent and its version the same ids: only the prompts differ.
    apps = []
    async with AsyncExitStack() as stack:
        for name in ("Alice", "Bob"):
            deps = memory_deps(clock=FixedClock(), ids=SequentialIds())
            client = await stack.enter_async_context(
                AsyncTestClient(create_app(Settings(database_url=None, data_dir=tmp_path), deps))
            )
            owner = (await team(deps, "acme")).owner.headers
            made = await client.post(
                "/org-agents/with-blueprint", json={"name": name, "agent_blueprint": shop_buddy(name)}, headers=owner
            )
            agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
            compiled = await client.post(
                f"/org-agents/{agent}/blueprints/{version}/compile?activate=true", headers=owner
            )
            assert compiled.status_code == 200, compiled.text
            apps.append((name, client, deps, owner, agent, version))
        assert len({(agent, version) for *_, agent, version in apps}) == 1

        for _ in range(3):  # the first fetch of each reads storage; the others are the hot path's hits
            for name, client, _deps, owner, agent, version in apps:
                answer = await client.get(f"/org-agents/{agent}/prompt", headers=owner)
                assert answer.status_code == 200
                assert answer.json()["compiled_system_prompt"].startswith(f"You are {name}.")
                assert answer.headers["etag"] == f'"{version}"'
        for name, _client, deps, owner, agent, _version in apps:
            who = deps.live.principal(secret_hash(owner["Authorization"].removeprefix("Bearer ")))
            assert who is not None, name
            assert deps.live.prompt(who.org_id, UUID(agent)) is not None, f"{name}'s prompt was not served from memory"


def test_a_rendered_answer_serves_only_the_prompt_it_was_rendered_from() -> None:
    def live(prompt: str) -> LivePrompt:
        return LivePrompt(
            agent_id=UUID(int=1), blueprint_id=UUID(int=2), version=1, compiled_system_prompt=prompt,
            compiled_at=datetime(2026, 1, 1, tzinfo=UTC), label="production",
        )  # fmt: skip

    answers = RenderedAnswers()
    first = answers.of(live("You are Alice."))
    assert answers.of(live("You are Alice.")) is first  # an equal prompt, even another object: the same answer
    other = answers.of(live("You are Bob."))  # the same version id, another prompt
    assert b"You are Bob." in other.body
    assert b"Alice" not in other.body
    assert answers.of(other.live) is other


HEADER_VARIANTS = {  # Authorization value (with {secret}) -> does it name the token?
    "Bearer {secret}": True,
    "bearer {secret}": True,
    "BEARER {secret}": True,
    "Bearer {secret}\u00a0": False,  # a trailing no-break space is not part of a token
    "Bearer\u00a0{secret}": False,
    "Bearer  {secret}": False,  # exactly one space (RFC 6750 allows more; no client of ours sends them)
    "Bearer\t{secret}": False,
    "Token {secret}": False,
    "{secret}": False,
    "Bearer {secret}x!": False,
}


async def test_both_paths_read_the_authorization_header_alike(client: Client, deps: Deps, world: World) -> None:
    secret = world.acme.member.headers["Authorization"].removeprefix("Bearer ")
    path = f"/org-agents/{world.live}/prompt"
    for template, names_the_token in HEADER_VARIANTS.items():
        header = {b"authorization": template.format(secret=secret).encode("latin-1")}  # as a client sends it
        await held(client, deps, world)
        fast = await client.get(path, headers=header)
        deps.live.detach()  # the route alone from here on
        routed = await client.get(path, headers=header)
        deps.live.attach()
        assert fast.status_code == routed.status_code == (200 if names_the_token else 401), repr(template)


async def test_a_change_made_here_is_served_at_once_not_when_its_notice_arrives(
    client: Client, deps: Deps, world: World
) -> None:
    owner = world.acme.owner.headers
    path = f"/org-agents/{world.live}/prompt"
    compiled = await client.post(f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile", headers=owner)
    assert compiled.status_code == 200, compiled.text
    for version in (world.live_v1, world.live_v2, world.live_v1):
        await held(client, deps, world)
        activated = await client.post(f"/org-agents/{world.live}/blueprints/{version}/activate", headers=owner)
        assert activated.status_code == 200, activated.text
        assert (await client.get(path, headers=world.acme.member.headers)).headers["etag"] == f'"{version}"'
    assert (await client.post(f"/org-agents/{world.live}/deactivate", headers=owner)).status_code == 200
    assert_problem(await client.get(path, headers=world.acme.member.headers), 404)


async def test_a_switch_off_by_update_and_a_revocation_made_here_are_served_at_once(
    client: Client, deps: Deps, world: World
) -> None:
    path = f"/org-agents/{world.live}/prompt"
    await held(client, deps, world)
    switched = await client.patch(
        f"/org-agents/{world.live}", json={"status": "deactive"}, headers=world.acme.owner.headers
    )
    assert switched.status_code == 200, switched.text
    assert_problem(await client.get(path, headers=world.acme.member.headers), 404)

    assert (
        await client.post(f"/org-agents/{world.live}/activate", headers=world.acme.owner.headers)
    ).status_code == 200
    await held(client, deps, world)
    await revoke_token(deps, RevokeToken(token_id=UUID(world.acme.member.token_id)))
    assert_problem(await client.get(path, headers=world.acme.member.headers), 401)


async def test_with_the_hot_path_off_the_cached_route_gives_the_same_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deps = memory_deps(clock=FixedClock(), ids=SequentialIds())
    settings = Settings(database_url=None, data_dir=tmp_path, hot_path=False)
    async with AsyncTestClient(create_app(settings, deps)) as client:
        owner = (await team(deps, "acme")).owner.headers
        made = await client.post(
            "/org-agents/with-blueprint", json={"name": "A", "agent_blueprint": shop_buddy("A")}, headers=owner
        )
        agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        assert (
            await client.post(f"/org-agents/{agent}/blueprints/{version}/compile?activate=true", headers=owner)
        ).status_code == 200
        with caplog.at_level(logging.INFO, logger="org_agents.access"):
            answers = [await client.get(f"/org-agents/{agent}/prompt", headers=owner) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].content == answers[2].content
    lines = [json.loads(r.getMessage()) for r in caplog.records]
    assert lines
    assert not any(line.get("from_memory") for line in lines)
    who = deps.live.principal(secret_hash(owner["Authorization"].removeprefix("Bearer ")))
    assert who is not None
    assert deps.live.prompt(who.org_id, UUID(agent)) is not None  # the cache answered the route: no database


# -- by label -----------------------------------------------------------------------------------------------------


async def staging_on_v2(client: Client, world: World) -> None:
    """Version 2 compiled and `staging` moved to it; production and canary stay on version 1."""
    url = f"/org-agents/{world.live}/blueprints/{world.live_v2}/compile"
    moved = await client.post(url, params={"label": "staging"}, headers=world.acme.owner.headers)
    assert moved.status_code == 200, moved.text


def seen_apart_from_its_id(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]
    return response.status_code, response.content, sorted(headers)


def access_lines(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, Any]]:
    return {line["request_id"]: line for line in (json.loads(r.getMessage()) for r in caplog.records)}


async def test_a_label_is_answered_from_memory_byte_for_byte_as_the_route_answers_it(
    client: Client, deps: Deps, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await staging_on_v2(client, world)
    await held(client, deps, world, "staging")
    path = f"/org-agents/{world.live}/prompt?label=staging"
    headers = world.acme.member.headers | SAME_ID
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        fast = await client.get(path, headers=headers | {"X-Request-ID": "fast"})
        fast_304 = await client.get(
            path, headers=headers | {"X-Request-ID": "fast-304", "If-None-Match": fast.headers["etag"]}
        )
        deps.live.detach()  # from here on, every request goes through Litestar
        routed = await client.get(path, headers=headers | {"X-Request-ID": "routed"})
        routed_304 = await client.get(
            path, headers=headers | {"X-Request-ID": "routed-304", "If-None-Match": fast.headers["etag"]}
        )

    assert seen_apart_from_its_id(fast) == seen_apart_from_its_id(routed)
    assert seen_apart_from_its_id(fast_304) == seen_apart_from_its_id(routed_304)
    assert (fast.status_code, fast.headers["etag"], fast.json()["label"]) == (200, f'"{world.live_v2}"', "staging")
    assert fast_304.status_code == 304
    lines = access_lines(caplog)
    assert lines["fast"].get("from_memory") is lines["fast-304"].get("from_memory") is True
    assert "from_memory" not in lines["routed"]
    assert "from_memory" not in lines["routed-304"]


async def test_a_watch_is_held_from_memory_and_answered_byte_for_byte_as_the_route_answers_it(
    client: Client, deps: Deps, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await staging_on_v2(client, world)
    await held(client, deps, world, "staging")
    path = f"/org-agents/{world.live}/prompt?label=staging&wait=1"
    current, stale = {"If-None-Match": f'"{world.live_v2}"'}, {"If-None-Match": f'"{world.live_v1}"'}
    headers = world.acme.member.headers
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        fast_held = await client.get(path, headers=headers | current | {"X-Request-ID": "fast-held"})
        fast_moved = await client.get(path, headers=headers | stale | {"X-Request-ID": "fast-moved"})
        deps.live.detach()  # from here on, every request goes through Litestar
        routed_held = await client.get(path, headers=headers | current | {"X-Request-ID": "routed-held"})
        routed_moved = await client.get(path, headers=headers | stale | {"X-Request-ID": "routed-moved"})

    assert seen_apart_from_its_id(fast_held) == seen_apart_from_its_id(
        routed_held
    )  # held its second, then 304: the copy is still current
    assert seen_apart_from_its_id(fast_moved) == seen_apart_from_its_id(
        routed_moved
    )  # the copy is stale: the new version at once
    assert (fast_held.status_code, fast_moved.status_code) == (304, 200)
    lines = access_lines(caplog)
    assert lines["fast-held"].get("from_memory") is lines["fast-moved"].get("from_memory") is True
    assert lines["fast-held"]["duration_ms"] >= 1000  # held for its wait
    assert "from_memory" not in lines["routed-held"]


FOR_THE_ROUTE = (  # query strings the hot path leaves to Litestar, even with staging's prompt in memory
    b"label=staging&x=1",
    b"x=1&label=staging",
    b"label=staging&label=staging",
    b"label=staging&wait=5&x=1",
    b"wait=5&wait=5",
    b"wait=0",
    b"wait=61",
    b"wait=05",
    b"wait=1.5",
    b"wait=%35",
    b"wait=",
    b"label=Staging",
    b"label=stag%69ng",
    b"label=staging%00",
    b"label=",
    b"label",
    b"label=staging#x",
    b"Label=staging",
    b"label=" + b"s" * 37,
)


def test_the_hot_path_takes_no_query_a_well_formed_label_a_wait_as_the_route_takes_it_or_both() -> None:
    assert asked(b"") == (PRODUCTION, None)
    for name in ("production", "staging", "latest", "canary-2", "v1.2_rc", "s" * 36):
        assert asked(f"label={name}".encode()) == (name, None)
    assert asked(b"wait=1") == (PRODUCTION, 1)
    assert asked(b"wait=60") == (PRODUCTION, 60)
    assert asked(b"label=staging&wait=5") == asked(b"wait=5&label=staging") == ("staging", 5)
    for query in FOR_THE_ROUTE:
        assert asked(query) is None, query


async def test_a_label_with_other_parameters_a_watch_or_a_malformed_query_goes_to_the_route(
    client: Client, deps: Deps, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await staging_on_v2(client, world)
    await held(client, deps, world, "staging")
    path = f"/org-agents/{world.live}/prompt"
    send_nothing: list[Any] = []

    async def send(message: Any) -> None:
        send_nothing.append(message)

    for raw in FOR_THE_ROUTE:
        scope = scope_for(path, world.acme.member.headers, raw)
        assert not await answer_from_memory(deps, client.app.state.rendered, scope, send), raw
    assert send_nothing == []

    expected = {  # what the route answers them: the label asked for, or a 400 naming it
        "label=staging&x=1": (200, "staging"),
        "label=stag%69ng": (200, "staging"),
        "wait=%35": (200, "production"),  # a watch without If-None-Match is answered at once
        "wait=61": (400, "wait"),
        "label=Staging": (400, "label"),
        "label=staging&label=latest": (400, "label"),
        "label=": (400, "label"),
    }
    ids = {query: f"query-{n}" for n, query in enumerate(expected)}
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        for query, (status, what) in expected.items():
            answer = await client.get(
                f"{path}?{query}", headers=world.acme.member.headers | {"X-Request-ID": ids[query]}
            )
            if status == 200:
                assert (answer.status_code, answer.json()["label"]) == (status, what), query
            else:
                assert {e["field"] for e in assert_problem(answer, status)["errors"]} == {what}, query
    lines = access_lines(caplog)
    assert [lines[ids[query]].get("from_memory") for query in expected] == [None] * len(expected)


async def test_a_request_for_one_label_is_never_answered_with_another_labels_prompt(
    client: Client, deps: Deps, world: World
) -> None:
    await staging_on_v2(client, world)
    for label in ("production", "canary", "staging"):  # production and canary share version 1
        await held(client, deps, world, label)
    path = f"/org-agents/{world.live}/prompt"
    member = world.acme.member.headers

    expected = [("canary", world.live_v1), ("production", world.live_v1), ("staging", world.live_v2),
                ("latest", world.live_v2), ("canary", world.live_v1)]  # fmt: skip
    for label, version in expected:
        answer = await client.get(path, params={"label": label}, headers=member)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["label"], answer.headers["etag"]) == (label, f'"{version}"'), label
    for label in ("nightly", "beta", "production2"):
        assert assert_problem(await client.get(path, params={"label": label}, headers=member), 404)["code"] == (
            "NoLivePrompt"
        )

    deleted = await client.delete(f"/org-agents/{world.live}/labels/canary", headers=world.acme.owner.headers)
    assert deleted.status_code == 204, deleted.text
    for _ in range(3):  # the first read after the delete, and the ones a stale entry would answer
        assert assert_problem(await client.get(path, params={"label": "canary"}, headers=member), 404)["code"] == (
            "NoLivePrompt"
        )
    assert (await client.get(path, headers=member)).json()["label"] == "production"


async def test_a_label_moved_here_is_served_at_once_from_memory_or_not(
    client: Client, deps: Deps, world: World
) -> None:
    await staging_on_v2(client, world)
    path = f"/org-agents/{world.live}/prompt"
    for version in (world.live_v1, world.live_v2, world.live_v1):
        await held(client, deps, world, "staging")
        url = f"/org-agents/{world.live}/labels/staging"
        moved = await client.put(url, json={"blueprint_id": version}, headers=world.acme.member.headers)
        assert moved.status_code == 200, moved.text
        answer = await client.get(path, params={"label": "staging"}, headers=world.acme.member.headers)
        assert answer.headers["etag"] == f'"{version}"'
