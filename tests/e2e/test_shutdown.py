"""Graceful shutdown of `org-agents serve` under load: SIGTERM lets the requests in flight finish, closes the pool and
stops the embedded PostgreSQL; the next start finds every write that was acknowledged, and no version half-written."""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from entrypoints.http.examples import shop_buddy
from tests.integration.test_embedded_postgres import postmaster_pid
from tests.serving import ORG_AGENTS, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.anyio]

WRITERS = 64
STARTUP_S = 60
STOPS_RIGHT_AFTER_START = 2  # granian alone took its 30 s kill timeout in 15 of 24 such stops (entrypoints/serve.py):
# two stops catch that 86 % of the time
PROMPT_STOP_S = 10


class Server:
    """A real `serve` process on its own embedded PostgreSQL; its log goes to a file, so it never blocks on a pipe."""

    def __init__(self, data_dir: Path, log: Path, *args: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ORG_AGENTS_TEST_DATABASE_URL"}}
        self.env["ORG_AGENTS_DATA_DIR"] = str(data_dir)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            [ORG_AGENTS, "serve", "--port", self.url.rsplit(":", 1)[1], *args],
            env=self.env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_S
        while not self._healthy():
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not start"

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def token(self) -> str:
        made = subprocess.run(
            [ORG_AGENTS, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner"],
            env=self.env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return made.stdout.strip().splitlines()[-1]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"
    pid = postmaster_pid(tmp_path / "data")
    if pid is not None:  # a failed test must not leave a server behind
        os.kill(pid, signal.SIGTERM)


async def test_sigterm_under_load_keeps_every_acknowledged_write_and_stops_postgres(
    data_dir: Path, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(Server, data_dir, tmp_path / "serve.log")
    auth = {"Authorization": f"Bearer {await asyncio.to_thread(server.token)}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as client:
        agent = (await client.post("/org-agents", json={"name": "Shop Buddy"})).json()["id"]
        first_answer = asyncio.Event()
        answered_at: list[float] = []

        async def write(n: int) -> httpx.Response | Exception:
            try:
                response = await client.post(
                    f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy() | {"n": n}}
                )
            except httpx.TransportError as refused:  # sent after the server stopped accepting: never processed
                return refused
            answered_at.append(time.monotonic())
            first_answer.set()
            return response

        writes = [asyncio.create_task(write(n)) for n in range(WRITERS)]
        await first_answer.wait()
        server.proc.send_signal(signal.SIGTERM)  # while most writes are still on their way
        signalled_at = time.monotonic()
        outcomes = await asyncio.gather(*writes)

    assert await asyncio.to_thread(server.stop) == 0
    assert postmaster_pid(data_dir) is None, "the embedded PostgreSQL was left running"
    answered = [o for o in outcomes if isinstance(o, httpx.Response)]
    assert all(r.status_code in {201, 503} for r in answered), [(r.status_code, r.text) for r in answered]
    acknowledged = {r.json()["id"]: r.json()["version"] for r in answered if r.status_code == 201}
    assert acknowledged, "no write was acknowledged before the shutdown"
    assert any(t > signalled_at for t in answered_at), "no request was still in flight at SIGTERM: nothing shown"
    print(f"{len(acknowledged)} acknowledged, {len(answered) - len(acknowledged)} refused with 503, "
          f"{WRITERS - len(answered)} never processed (connection refused or closed)")  # fmt: skip

    again = await asyncio.to_thread(Server, data_dir, tmp_path / "serve-again.log")
    try:
        async with httpx.AsyncClient(base_url=again.url, headers=auth, timeout=30) as client:
            page = (await client.get(f"/org-agents/{agent}/blueprints", params={"limit": 100})).json()
    finally:
        assert await asyncio.to_thread(again.stop) == 0
    stored = {item["id"]: item["version"] for item in page["items"]}
    assert acknowledged.items() <= stored.items()  # every 2xx is there, with the number it was given
    assert sorted(stored.values()) == list(range(1, len(stored) + 1))  # nothing half-written: no gap


def test_sigterm_as_soon_as_serve_answers_stops_every_worker_gracefully_and_promptly(
    data_dir: Path, tmp_path: Path
) -> None:
    for n in range(STOPS_RIGHT_AFTER_START):  # the second worker is often still starting when the first answers
        log = tmp_path / f"serve-{n}.log"
        server = Server(data_dir, log, "--workers", "2")
        workers = psutil.Process(server.proc.pid).children()
        server.proc.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()

        assert server.stop() == 0, log.read_text()
        assert time.monotonic() - signalled_at < PROMPT_STOP_S, log.read_text()  # no worker waited for the kill
        assert not [worker for worker in workers if worker.is_running()], log.read_text()
    assert postmaster_pid(data_dir) is None


def test_when_its_workers_die_serve_stops_too_promptly_and_with_an_error(data_dir: Path, tmp_path: Path) -> None:
    """No half-alive server: with its workers gone (killed, out of memory), `serve` stops the rest and its
    embedded PostgreSQL and exits 1; a SIGTERM meanwhile is honoured as promptly (and, when it came before granian
    saw the workers go, as an ordinary stop: 0)."""
    for signalled in (False, True):
        log = tmp_path / f"serve-{signalled}.log"
        server = Server(data_dir, log, "--workers", "2")
        for worker in psutil.Process(server.proc.pid).children():
            worker.kill()
        killed_at = time.monotonic()
        if signalled:
            server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=60)
        server.log.close()
        assert time.monotonic() - killed_at < PROMPT_STOP_S, log.read_text()
        assert code == 1 or (signalled and code == 0), log.read_text()
        assert postmaster_pid(data_dir) is None


WATCHES = 20


def established(server: Server, port: int) -> int:
    """Connections the server's workers hold open with clients now."""
    workers = psutil.Process(server.proc.pid).children()
    return sum(
        1
        for worker in workers
        for conn in worker.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
    )


async def test_sigterm_answers_the_held_watches_at_once_and_stops_promptly(data_dir: Path, tmp_path: Path) -> None:
    server = await asyncio.to_thread(Server, data_dir, tmp_path / "serve.log")
    auth = {"Authorization": f"Bearer {await asyncio.to_thread(server.token)}"}
    port = int(server.url.rsplit(":", 1)[1])
    limits = httpx.Limits(max_connections=WATCHES + 5)
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=90, limits=limits) as client:
        made = await client.post(
            "/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}
        )
        agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        compiled = await client.post(f"/org-agents/{agent}/blueprints/{version}/compile?activate=true")
        assert compiled.status_code == 200, compiled.text
        held = {"If-None-Match": f'"{version}"'}
        watches = [
            asyncio.create_task(client.get(f"/org-agents/{agent}/prompt", params={"wait": 60}, headers=held))
            for _ in range(WATCHES)
        ]
        deadline = time.monotonic() + STARTUP_S
        while await asyncio.to_thread(established, server, port) < WATCHES:
            assert time.monotonic() < deadline, "the watches never reached the server"
            assert not any(watch.done() for watch in watches), [w.result() for w in watches if w.done()]
            await asyncio.sleep(0.05)  # polling a condition, bounded by the deadline
        server.proc.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()
        answers = await asyncio.gather(*watches)
        answered_in = time.monotonic() - signalled_at

    assert await asyncio.to_thread(server.stop) == 0, server.log.name
    stopped_in = time.monotonic() - signalled_at
    assert [a.status_code for a in answers] == [304] * WATCHES  # answered, not dropped by a killed worker
    assert answered_in < PROMPT_STOP_S
    assert stopped_in < PROMPT_STOP_S  # granian's kill timeout (30 s) was never waited for
    assert postmaster_pid(data_dir) is None
