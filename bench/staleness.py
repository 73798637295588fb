"""(h) Staleness: how long after one instance commits a change of the live version every other instance serves it.

Each serve worker answers `GET /org-agents/{id}/prompt` from its own in-memory cache, which PostgreSQL's
LISTEN/NOTIFY invalidates (migration 0007, adapters/postgres/changes.py). A second serve, B (`--workers 1`), runs
next to the main one, A, on the same database. The hot agent's live version is switched between two compiled
versions, first by activating on A over HTTP while B is polled, then by a plain SQL UPDATE on a connection of the
bench's own while B and A are polled. Every poll is a GET of the live prompt on a keep-alive connection, in a tight
loop, until the ETag is the new version's; the time from the change (A's 200 read, or the UPDATE returned) to that
response is the staleness.
"""

import gzip
import http.client
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, LiteralString
from uuid import UUID

import msgspec
import psycopg

from adapters.postgres.changes import APPLICATION_NAME
from bench.model import Sighting, Staleness, StalenessPhase, staleness_of
from bench.phases import Bench, BenchFailed
from bench.seed import shop_buddy
from bench.server import Serve, running_serve

FAIL_AFTER_S: Final = 2.0  # a change not served within this fails the run
A_CONNECTIONS: Final = 4  # polling A's workers: the kernel picks the worker of each connection
REQUEST_TIMEOUT_S: Final = 5.0
LISTENERS_TIMEOUT_S: Final = 30.0
POLL_S: Final = 0.05
TAG: Final = "bench-h"  # X-Request-ID prefix of the phase's requests

SET_LIVE_VERSION: Final[LiteralString] = (
    "UPDATE org_agents SET current_blueprint_id = %s, updated_at = now() WHERE id = %s"
)
# The change feeds that listen: a feed's connection has run LISTEN once its last statement is LISTEN or its ping.
COUNT_LISTENERS: Final[LiteralString] = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = %s AND (query LIKE 'LISTEN %%' OR query = 'SELECT 1')
"""

ACCESS_LINE: Final = "org_agents.access: "  # the access log's lines (entrypoints/http/logs.py)
HTTP_CHANGE: Final = "activate on A over HTTP"
SQL_CHANGE: Final = "UPDATE by SQL on another connection"


def etag_of(version_id: UUID) -> str:
    """The live prompt's ETag: its version's id, quoted (entrypoints/http/hot_path.py)."""
    return f'"{version_id}"'


def version_of(etag: str) -> UUID:
    return UUID(etag.strip().removeprefix("W/").strip('"'))


def switches(live: UUID, other: UUID, changes: int) -> list[tuple[UUID, UUID]]:
    """(from, to) for each change, `live` live at first: to `other`, back, and so on."""
    return [(live, other) if n % 2 == 0 else (other, live) for n in range(changes)]


class Access(msgspec.Struct, frozen=True):
    route: str
    request_id: str
    from_memory: bool = False  # the hot path answered from the live cache; absent: Litestar's route answered


def access_routes(log_text: str) -> dict[str, Access]:
    """Request id -> what a serve's access log says of that request."""
    routes = {}
    for line in log_text.splitlines():
        _, found, payload = line.partition(ACCESS_LINE)
        if not found:
            continue
        try:
            entry = msgspec.json.decode(payload, type=Access)
        except msgspec.DecodeError:
            continue
        routes[entry.request_id] = entry
    return routes


def from_memory(routes: Mapping[str, Access], request_ids: Sequence[str]) -> tuple[int, int]:
    """(found in the log, answered from memory) of `request_ids`."""
    found = [routes[request_id] for request_id in request_ids if request_id in routes]
    return len(found), sum(1 for entry in found if entry.from_memory)


class _Version(msgspec.Struct, frozen=True):
    id: UUID


class _Page(msgspec.Struct, frozen=True):
    items: list[_Version]


class _Compiled(msgspec.Struct, frozen=True):
    compilation_status: str


class Http:
    """One keep-alive connection to a serve, authenticated with a bearer token."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        self.authorization = f"Bearer {token}"

    def request(
        self, method: str, path: str, body: object = None, request_id: str | None = None
    ) -> tuple[int, str | None, bytes]:
        """(status, ETag, body), the body read in full so that the connection can be reused."""
        headers = {"Authorization": self.authorization}
        if request_id is not None:
            headers["X-Request-ID"] = request_id  # serve logs it: which request its cache answered
        payload = None
        if body is not None:
            payload = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.getheader("etag"), response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()  # the server closed an idle keep-alive connection: open a new one
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def expect(
        self, method: str, path: str, status: int, body: object = None, request_id: str | None = None
    ) -> tuple[str | None, bytes]:
        got, etag, data = self.request(method, path, body, request_id)
        if got != status:
            raise BenchFailed(f"(h) {method} {path} answered {got}, not {status}: {data[:500]!r}")
        return etag, data

    def close(self) -> None:
        self.connection.close()


class Poller:
    """GETs the live prompt over one keep-alive connection."""

    def __init__(self, name: str, port: int, token: str, path: str) -> None:
        self.name = name
        self.path = path
        self.http = Http(port, token)

    def etag(self, request_id: str | None = None) -> str:
        etag, _ = self.http.expect("GET", self.path, 200, request_id=request_id)
        if etag is None:
            raise BenchFailed(f"(h) {self.name}: GET {self.path} answered without an ETag")
        return etag

    def until(self, etag: str, t0: float, what: str, tag: str | None = None) -> Sighting:
        """Polls until the ETag is `etag`: the time since `t0` then, and the requests it took (request ids
        `<tag>-<n>`, n from 1). BenchFailed when that takes over FAIL_AFTER_S."""
        polls = 0
        while True:
            seen = self.etag(None if tag is None else f"{tag}-{polls + 1}")
            polls += 1
            now = time.perf_counter()
            if seen == etag:
                return Sighting(ms=round((now - t0) * 1000, 3), polls=polls)
            if now - t0 > FAIL_AFTER_S:
                raise BenchFailed(
                    f"(h) staleness over the {FAIL_AFTER_S:.0f} s bound: {self.name} still served {seen} "
                    f"{now - t0:.2f} s after {what} made {etag} live ({polls} requests)"
                )

    def close(self) -> None:
        self.http.close()


def wait_for_listeners(conninfo: str, expected: int) -> int:
    """Waits until `expected` change feeds (one per serve worker) listen; returns how many do."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            row = conn.execute(COUNT_LISTENERS, (APPLICATION_NAME,)).fetchone()
            found = int(row[0]) if row else 0
            if found >= expected:
                return found
            if time.monotonic() - started > LISTENERS_TIMEOUT_S:
                raise BenchFailed(
                    f"(h) {found} change feeds listen after {LISTENERS_TIMEOUT_S:.0f} s, not the {expected} of A's "
                    "and B's workers: their live caches are not following changes"
                )
            time.sleep(POLL_S)


def _workers(serve: Serve) -> int:
    return sum(1 for process in serve.memory() if process.worker)


@contextmanager
def _pool(size: int) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bench-poll")
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def staleness_phase(
    bench: Bench,
    a: Serve,
    executable: Path,
    conninfo: str,
    data_dir: Path,
    b_log: Path,
    b_args: list[str],
    agent_id: UUID,
    owner_token: str,
    reader_token: str,
) -> StalenessPhase:
    """(h) with B started here and stopped before returning; A is the running main serve."""
    changes = bench.options.staleness_changes
    prompt_path = f"/org-agents/{agent_id}/prompt"
    base = f"/org-agents/{agent_id}"
    with ExitStack() as stack:
        owner = Http(a.port, owner_token)
        stack.callback(owner.close)
        bench.progress(f"(h) starting a second serve, B: org-agents serve {' '.join(b_args)} (log: {b_log})")
        b = stack.enter_context(running_serve(executable, conninfo, data_dir, b_log, b_args))

        live_etag, _ = owner.expect("GET", prompt_path, 200)
        if live_etag is None:
            raise BenchFailed(f"(h) GET {prompt_path} on A answered without an ETag")
        original = version_of(live_etag)
        second, created = _second_version(owner, base, original)
        a_workers, b_workers = _workers(a), _workers(b)
        listeners = wait_for_listeners(conninfo, a_workers + b_workers)
        bench.progress(f"(h) versions {original} (live before) and {second} ({'compiled now' if created else 'seed'}); "
                       f"A has {a_workers} worker(s), B {b_workers}; {listeners} change feeds listen")  # fmt: skip

        b_poller = Poller("B", b.port, reader_token, prompt_path)
        a_pollers = [Poller(f"A{n}", a.port, reader_token, prompt_path) for n in range(1, A_CONNECTIONS + 1)]
        pollers = [b_poller, *a_pollers]
        for poller in pollers:
            stack.callback(poller.close)
        executor = stack.enter_context(_pool(len(pollers)))

        def settle(version: UUID, what: str) -> None:
            """Every poller serves `version` (polled concurrently; within FAIL_AFTER_S)."""
            t0 = time.perf_counter()
            futures = [executor.submit(p.until, etag_of(version), t0, what) for p in pollers]
            for future in futures:
                future.result()

        settle(second, "the compile and activation before the phase")

        b_before: list[str] = []  # request ids of B's answers just before a change, and of its first with it
        b_seen: list[str] = []
        sightings: list[list[Sighting]] = []
        for n, (old, new) in enumerate(switches(second, original, changes), start=1):
            tag = f"{TAG}-http{n}"
            b_before += _expect_serving([b_poller], old, tag)
            owner.expect("POST", f"{base}/blueprints/{new}/activate", 200)
            t0 = time.perf_counter()
            seen = b_poller.until(etag_of(new), t0, f"activating it on A over HTTP ({new})", f"{tag}-B")
            sightings.append([seen])
            b_seen.append(f"{tag}-B-{seen.polls}")
        over_http = staleness_of(HTTP_CHANGE, "B, 1 connection", sightings)
        _progress(bench, over_http)

        live = switches(second, original, changes)[-1][1]
        settle(live, "the last activation on A")
        by_sql: list[tuple[list[Sighting], list[Sighting]]] = []
        with psycopg.connect(conninfo, autocommit=True) as conn:
            other = original if live == second else second
            for n, (old, new) in enumerate(switches(live, other, changes), start=1):
                tag = f"{TAG}-sql{n}"
                b_before += _expect_serving(pollers, old, tag)[:1]
                done = conn.execute(SET_LIVE_VERSION, (new, agent_id))
                t0 = time.perf_counter()
                if done.rowcount != 1:
                    raise BenchFailed(f"(h) the UPDATE of the live version changed {done.rowcount} rows, not 1")
                what = f"an UPDATE on another connection ({new})"
                futures = [executor.submit(p.until, etag_of(new), t0, what, f"{tag}-{p.name}") for p in pollers]
                seen_all = [future.result() for future in futures]
                by_sql.append((seen_all[:1], seen_all[1:]))
                b_seen.append(f"{tag}-B-{seen_all[0].polls}")
                live = new
        sql_b = staleness_of(SQL_CHANGE, "B, 1 connection", [on_b for on_b, _ in by_sql])
        sql_a = staleness_of(
            SQL_CHANGE,
            f"A ({a_workers} workers), slowest of {A_CONNECTIONS} connections",
            [on_a for _, on_a in by_sql],
        )
        _progress(bench, sql_b)
        _progress(bench, sql_a)

        if live != original:
            owner.expect("POST", f"{base}/blueprints/{original}/activate", 200)
        settle(original, "restoring the original live version")
        bench.progress(f"(h) {original} is live again on A and B; stopping B")
    with gzip.open(b.log_path, "rt", encoding="utf-8", errors="replace") as log:
        routes = access_routes(log.read())
    before_logged, before_cached = from_memory(routes, b_before)
    seen_logged, seen_cached = from_memory(routes, b_seen)
    bench.progress(
        f"(h) B's log: {before_cached} of {before_logged} answers just before a change came from its cache, "
        f"{seen_cached} of {seen_logged} first answers with the change did (a miss reads the database)"
    )
    return StalenessPhase(
        agent_id=str(agent_id),
        versions=[str(original), str(second)],
        created_version=created,
        changes=changes,
        fail_after_ms=FAIL_AFTER_S * 1000,
        b_args=b_args,
        b_log=b.log_path.name,
        a_workers=a_workers,
        b_workers=b_workers,
        listeners=listeners,
        b_checked=len(b_before),
        b_before_logged=before_logged,
        b_before_from_memory=before_cached,
        b_seen_logged=seen_logged,
        b_seen_from_memory=seen_cached,
        series=[over_http, sql_b, sql_a],
        restored=True,
    )


def _expect_serving(pollers: Sequence[Poller], version: UUID, tag: str) -> list[str]:
    """Before a change: each connection serves the version being replaced (from its worker's cache, normally).
    Returns the request ids, `<tag>-<poller>-before`."""
    request_ids = []
    for poller in pollers:
        request_ids.append(f"{tag}-{poller.name}-before")
        seen = poller.etag(request_ids[-1])
        if seen != etag_of(version):
            raise BenchFailed(f"(h) {poller.name} serves {seen} before the change, not {etag_of(version)}")
    return request_ids


def _second_version(owner: Http, base: str, live: UUID) -> tuple[UUID, bool]:
    """Another compiled version of the agent, made live; added and compiled (over HTTP) if there is none."""
    _, data = owner.expect("GET", f"{base}/compiled-blueprints?limit=100", 200)
    others = [item.id for item in msgspec.json.decode(data, type=_Page).items if item.id != live]
    if others:
        owner.expect("POST", f"{base}/blueprints/{others[0]}/activate", 200)
        return others[0], False
    _, data = owner.expect("POST", f"{base}/blueprints", 201, {"agent_blueprint": shop_buddy()})
    version = msgspec.json.decode(data, type=_Version).id
    _, data = owner.expect("POST", f"{base}/blueprints/{version}/compile?activate=true", 200)
    status = msgspec.json.decode(data, type=_Compiled).compilation_status
    if status != "compiled":
        raise BenchFailed(f"(h) the second version of the hot agent compiled {status!r}, not 'compiled'")
    return version, True


def _progress(bench: Bench, series: Staleness) -> None:
    bench.progress(
        f"(h) {series.change}, served by {series.observer}: median {series.median_ms:.2f} ms, p95 "
        f"{series.p95_ms:.2f} ms, max {series.max_ms:.2f} ms over {len(series.samples_ms)} changes; polls up to "
        f"{max(series.polls)}"
    )
