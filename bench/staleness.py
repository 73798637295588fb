"""(h) Staleness: how long after one instance commits a change of the live version another instance serves it."""

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Final, LiteralString
from uuid import UUID

import httpx
import msgspec
import psycopg

from adapters.postgres.changes import APPLICATION_NAME
from bench.measure import Bench, BenchFailed, access_log, median, percentile, processes
from entrypoints.http.examples import shop_buddy
from tests.serving import Serving

FAIL_AFTER_S: Final = 2.0  # a change not served within this fails the run
A_CONNECTIONS: Final = 4  # polling A's workers: the kernel picks the worker of each connection
SET_LIVE_VERSION: Final[LiteralString] = (
    "UPDATE org_agents SET current_blueprint_id = %s, updated_at = now() WHERE id = %s"
)
# A change feed listens once its connection's last statement is its LISTEN or its ping.
COUNT_LISTENERS: Final[LiteralString] = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = %s AND (query LIKE 'LISTEN %%' OR query = 'SELECT 1')
"""


class Sighting(msgspec.Struct, frozen=True):
    ms: float  # from t0, when the change was known committed, to the first response that had it
    polls: int  # requests it took


class Series(msgspec.Struct, frozen=True, kw_only=True):
    change: str
    observer: str
    samples_ms: list[float]  # per change, the slowest connection's
    polls: list[int]  # per change, the most requests a connection took

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 0.95)


def slowest(change: str, observer: str, sightings: Sequence[Sequence[Sighting]]) -> Series:
    """Per change (one list of sightings each, one per polling connection), the slowest connection counts."""
    if not sightings or len({len(per_change) for per_change in sightings}) != 1 or not sightings[0]:
        raise ValueError("every change polled over the same connections")
    return Series(change=change, observer=observer, samples_ms=[max(s.ms for s in each) for each in sightings],
                  polls=[max(s.polls for s in each) for each in sightings])  # fmt: skip


def switches(live: UUID, other: UUID, changes: int) -> list[tuple[UUID, UUID]]:
    """(from, to) of each change, `live` live at first: to `other`, back, and so on."""
    return [(live, other) if n % 2 == 0 else (other, live) for n in range(changes)]


class Staleness(msgspec.Struct, frozen=True, kw_only=True):
    a_workers: int
    b_workers: int
    listeners: int
    series: list[Series]  # activate on A over HTTP (B polled); SQL (B polled); SQL (A polled)
    b_before: tuple[int, int]  # B's log: (answers just before a change logged, of them from memory)
    b_seen: tuple[int, int]  # (first answers with the change logged, of them from memory: a miss should read it)


class Poller:
    """GETs the live prompt on one keep-alive connection."""

    def __init__(self, name: str, url: str, token: str, path: str) -> None:
        self.name, self.path = name, path
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5)

    def etag(self, request_id: str) -> str:
        answer = self.http.get(self.path, headers={"X-Request-ID": request_id})  # the log says who answered it
        if answer.status_code != 200 or "etag" not in answer.headers:
            raise BenchFailed(f"(h) {self.name}: GET {self.path} answered {answer.status_code} {answer.text[:300]}")
        return answer.headers["etag"]

    def until(self, version: UUID, t0: float, tag: str) -> Sighting:
        """Polls until the ETag is `version`'s; request ids `<tag>-<name>-<n>`."""
        polls = 0
        while True:
            polls += 1
            seen = self.etag(f"{tag}-{self.name}-{polls}")
            now = time.perf_counter()
            if seen == f'"{version}"':
                return Sighting(round((now - t0) * 1000, 3), polls)
            if now - t0 > FAIL_AFTER_S:
                raise BenchFailed(
                    f"(h) {self.name} still served {seen} {now - t0:.2f} s after {tag} made {version} live"
                )

    def serving(self, version: UUID, tag: str) -> str:
        """Before a change: the version being replaced is served; returns the request id."""
        if (seen := self.etag(request_id := f"{tag}-{self.name}-before")) != f'"{version}"':
            raise BenchFailed(f"(h) {self.name} serves {seen} before the change, not {version}")
        return request_id


def _listeners(conninfo: str, expected: int) -> int:
    deadline = time.monotonic() + 30
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while (found := int((conn.execute(COUNT_LISTENERS, [APPLICATION_NAME]).fetchone() or [0])[0])) < expected:
            if time.monotonic() > deadline:
                raise BenchFailed(f"(h) {found} change feeds listen, not the {expected} of A's and B's workers")
            time.sleep(0.05)
    return found


def staleness(bench: Bench, a: Serving, agent_id: UUID, owner_token: str, reader_token: str) -> Staleness:
    """B (`--workers 1`) runs next to A, the main serve; the live version is switched `changes` times over HTTP on A
    (B polled), then by SQL (B and A polled), and the original made live again."""
    base, prompt = f"/org-agents/{agent_id}", f"/org-agents/{agent_id}/prompt"
    with ExitStack() as stack:
        b = stack.enter_context(bench.serve("staleness-b", ["--workers", "1"]))
        owner = stack.enter_context(httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {owner_token}"}))
        original = UUID(owner.get(prompt).raise_for_status().headers["etag"].strip('"'))
        second = UUID(
            owner.post(f"{base}/blueprints", json={"agent_blueprint": shop_buddy()}).raise_for_status().json()["id"]
        )
        owner.post(f"{base}/blueprints/{second}/compile?activate=true").raise_for_status()
        a_workers, b_workers = (sum(p.worker for p in processes(s.proc.pid)) for s in (a, b))
        listeners = _listeners(bench.conninfo, a_workers + b_workers)
        on_b = Poller("B", b.url, reader_token, prompt)
        pollers = [on_b, *(Poller(f"A{n}", a.url, reader_token, prompt) for n in range(1, A_CONNECTIONS + 1))]
        for poller in pollers:
            stack.callback(poller.http.close)
        executor = stack.enter_context(ThreadPoolExecutor(len(pollers)))

        def all_see(version: UUID, tag: str) -> list[Sighting]:
            t0 = time.perf_counter()
            return list(executor.map(lambda poller: poller.until(version, t0, tag), pollers))

        all_see(second, "settle")
        b_before, b_seen, over_http = [], [], []
        changes = switches(second, original, bench.options.changes)
        for n, (old, new) in enumerate(changes, start=1):
            b_before.append(on_b.serving(old, f"http{n}"))
            owner.post(f"{base}/blueprints/{new}/activate").raise_for_status()
            over_http.append([on_b.until(new, time.perf_counter(), f"http{n}")])
            b_seen.append(f"http{n}-B-{over_http[-1][0].polls}")
        live = changes[-1][1]
        all_see(live, "settle")
        by_sql = []
        changes = switches(live, original if live == second else second, bench.options.changes)
        with psycopg.connect(bench.conninfo, autocommit=True) as conn:
            for n, (old, new) in enumerate(changes):
                b_before += [poller.serving(old, f"sql{n + 1}") for poller in pollers][:1]
                if conn.execute(SET_LIVE_VERSION, (new, agent_id)).rowcount != 1:
                    raise BenchFailed("(h) the UPDATE of the live version changed no row")
                by_sql.append(all_see(new, f"sql{n + 1}"))
                b_seen.append(f"sql{n + 1}-B-{by_sql[-1][0].polls}")
        if changes[-1][1] != original:
            owner.post(f"{base}/blueprints/{original}/activate").raise_for_status()
        all_see(original, "restore")
    series = [
        slowest("activate on A over HTTP", "B, 1 connection", over_http),
        slowest("UPDATE by SQL", "B, 1 connection", [seen[:1] for seen in by_sql]),
        slowest("UPDATE by SQL", f"A ({a_workers} workers), slowest of {A_CONNECTIONS}", [seen[1:] for seen in by_sql]),
    ]
    for one in series:
        bench.progress(f"(h) {one.change}, served by {one.observer}: median {median(one.samples_ms):.2f} ms, "
                       f"max {max(one.samples_ms):.2f} ms")  # fmt: skip
    routes = {entry.request_id: entry.from_memory for entry in access_log(b.log)}

    def cached(ids: list[str]) -> tuple[int, int]:
        return sum(i in routes for i in ids), sum(routes.get(i, False) for i in ids)

    return Staleness(a_workers=a_workers, b_workers=b_workers, listeners=listeners, series=series,
                     b_before=cached(b_before), b_seen=cached(b_seen))  # fmt: skip
