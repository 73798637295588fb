"""PostgreSQL crashes under load (SIGKILL) and comes back: the service answers 503 fast meanwhile, recovers without a
restart, and every write it acknowledged is stored, with no version half-written."""

import asyncio
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest

from adapters.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
from adapters.postgres.migrations import load_migrations, migrate_up
from tests.samples import shop_buddy
from tests.serving import ORG_AGENTS, Serving, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.anyio]

AGENTS = 4
WRITERS = 12
POOL_TIMEOUT_S = 1.0
FAST_FAIL_S = POOL_TIMEOUT_S + 2.0  # an answer during the outage comes within the pool timeout, plus slack
DEADLINE_S = 60.0


class Outcome(msgspec.Struct, kw_only=True):
    kind: str  # "version" or "compile"
    status: int | None  # None: the connection failed
    at: float
    seconds: float
    body: dict[str, Any] | None = None
    retry_after: str | None = None


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """A PostgreSQL of this test's own, which it may kill: never the suite's shared server."""
    server = EmbeddedPostgres(tmp_path / "pg", {"fsync": "on"})
    server.acquire()
    try:
        server.ensure_database("crash")
        conninfo = server.conninfo("crash")
        migrate_up(conninfo, load_migrations())
        yield server, conninfo
    finally:
        server.release()


@pytest.fixture
def served(database: tuple[EmbeddedPostgres, str], tmp_path: Path) -> Iterator[tuple[Serving, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if k != "ORG_AGENTS_TEST_DATABASE_URL"}
    env |= {"DATABASE_URL": database[1], "ORG_AGENTS_POOL_TIMEOUT": str(POOL_TIMEOUT_S)}
    with serving(env, tmp_path / "serve.log") as server:
        yield server, env


def _restart(server: EmbeddedPostgres) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:  # the killed server's backends exit on their own a moment after it; until then a start is refused
        try:
            server.ensure_running()
            return
        except EmbeddedPostgresError:
            assert time.monotonic() < deadline, "PostgreSQL did not start again"


async def test_a_database_crash_under_load_loses_no_acknowledged_write(
    database: tuple[EmbeddedPostgres, str], served: tuple[Serving, dict[str, str]]
) -> None:
    (server, conninfo), (serve, env) = database, served
    made = await asyncio.to_thread(
        subprocess.run,
        [ORG_AGENTS, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"}
    outcomes: list[Outcome] = []
    stop = asyncio.Event()
    progress = asyncio.Condition()  # notified at every answer, so the test waits on what happens, not on time
    async with httpx.AsyncClient(base_url=serve.url, headers=auth, timeout=30) as client:
        agents = [(await client.post("/org-agents", json={"name": f"agent {n}"})).json()["id"] for n in range(AGENTS)]

        async def call(kind: str, method: str, path: str, **kwargs: Any) -> Outcome:
            started = time.monotonic()
            try:
                response = await client.request(method, path, **kwargs)
            except httpx.TransportError:
                outcome = Outcome(kind=kind, status=None, at=started, seconds=time.monotonic() - started)
            else:
                outcome = Outcome(
                    kind=kind, status=response.status_code, at=started, seconds=time.monotonic() - started,
                    body=response.json() if response.status_code < 300 else None,
                    retry_after=response.headers.get("retry-after"),
                )  # fmt: skip
            async with progress:
                outcomes.append(outcome)
                progress.notify_all()
            return outcome

        async def writer(n: int) -> None:
            agent = agents[n % AGENTS]
            while not stop.is_set():
                made = await call(
                    "version", "POST", f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}
                )
                if made.status == 201 and made.body is not None:
                    await call("compile", "POST", f"/org-agents/{agent}/blueprints/{made.body['id']}/compile")

        writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]

        async def until(condition: Callable[[], bool]) -> None:
            async with progress:
                await asyncio.wait_for(progress.wait_for(condition), DEADLINE_S)

        await until(lambda: sum(o.status == 201 for o in outcomes) >= 50)  # load is flowing

        assert await asyncio.to_thread(server.kill) is not None
        killed_at = time.monotonic()  # the postmaster is gone: every request from here until the restart fails
        await until(lambda: sum(o.status == 503 for o in outcomes if o.at > killed_at) >= 2 * WRITERS)
        restarting_at = time.monotonic()
        await asyncio.to_thread(_restart, server)
        restarted_at = time.monotonic()
        await until(lambda: any(o.status == 201 and o.at > restarted_at for o in outcomes))  # serve not restarted
        recovered_at = min(o.at + o.seconds for o in outcomes if o.status == 201 and o.at > restarted_at)
        stop.set()
        await asyncio.gather(*writers)

    during = [o for o in outcomes if o.at > killed_at and o.at + o.seconds < restarting_at]
    assert {o.status for o in during} <= {503}, sorted({str(o.status) for o in during})
    assert all(o.retry_after for o in during)
    assert max(o.seconds for o in during) < FAST_FAIL_S
    assert {o.status for o in outcomes} <= {200, 201, 503}  # never a 500, never a hang

    acked_versions = {
        o.body["id"]: o.body["version"] for o in outcomes if o.kind == "version" and o.status == 201 and o.body
    }
    acked_compiles = {o.body["blueprint"]["id"] for o in outcomes if o.kind == "compile" and o.status == 200 and o.body}
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT id::text, agent_id, version, compilation_status FROM agent_blueprints").fetchall()
    stored = {row[0]: row[2] for row in rows}
    assert acked_versions.items() <= stored.items()
    assert all(row[3] == "compiled" for row in rows if row[0] in acked_compiles)
    for agent in agents:
        numbers = sorted(row[2] for row in rows if str(row[1]) == agent)
        assert numbers == list(range(1, len(numbers) + 1)), agent
    print(
        f"{len(outcomes)} requests; {len(during)} during the outage, all 503 with Retry-After, slowest "
        f"{max(o.seconds for o in during):.2f} s; {len(acked_versions)} acknowledged versions and "
        f"{len(acked_compiles)} compiles all stored; recovered {recovered_at - restarted_at:.2f} s after PostgreSQL "
        f"was back (outage {restarted_at - killed_at:.2f} s)"
    )
