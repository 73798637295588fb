"""The Prometheus metrics each worker of `org-agents serve` records (the listener that serves them, summed over the
workers, is entrypoints/metrics_listener.py).

Under `serve`, prometheus_client runs in its multiprocess mode: every value lives in a file of the worker's own, in
the directory `serve` made, where the listener reads them all. Writing one costs a lock, a `getpid` and a write to
shared memory: 4 µs measured here, 40 times a dict increment, and the hot path answers in about 30 µs of CPU. So
requests are counted in plain dicts (`ANSWERED`, `FROM_MEMORY`) and the application's own counters (the live cache's
hits, the pool's statistics) are read where they are kept; a recorder adds them to the metrics once a second and when
the worker stops. Only the latency histogram is written per request, for routed requests only: the hot path's answers
are counted, not timed (BENCHMARKS.md measures them), and so are those Litestar sends without a route (404, 405),
which the access log's middleware never sees.

Every label is bounded: route templates (never a path), statuses, a closed set of methods.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Final, Literal

from litestar.types import Message, Scope
from prometheus_client import Counter, Gauge, Histogram

from application.deps import Deps, PoolUse
from application.live_cache import LiveCache
from entrypoints.http.live_prompt import ROUTE

log = logging.getLogger("org_agents.metrics")

RECORD_EVERY_S: Final = 1.0
NO_ROUTE: Final = "(no route)"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other: "other"
# From the hot path's sub-millisecond answers to the longest watch (`?wait=60`).
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Requests answered since the recorder last looked (one event loop per worker: no lock).
ANSWERED: Final[defaultdict[tuple[str, str, int], int]] = defaultdict(int)  # (method, route, status): by Litestar
FROM_MEMORY: Final[defaultdict[int, int]] = defaultdict(int)  # status: `GET ROUTE` by the hot path

# registry=None: the listener reads every worker's files; no process exposes its own registry.
REQUESTS: Final = Counter(
    "org_agents_http_requests", "HTTP requests answered, by route template and status; from_memory: by the hot path",
    ["method", "route", "status", "from_memory"], registry=None,
)  # fmt: skip
DURATION: Final = Histogram(
    "org_agents_http_request_duration_seconds", "Time to answer a request that Litestar routed (the hot path's "
    "answers are counted in org_agents_http_requests_total only)", ["method", "route", "status"], buckets=BUCKETS,
    registry=None,
)  # fmt: skip
_timers: dict[tuple[str, str, int], "Histogram"] = {}


def count_routed(method: str, route: str, status: int, seconds: float) -> None:
    """A request Litestar answered (the access log's middleware calls this)."""
    key = (method if method in METHODS else "other", route, status)
    ANSWERED[key] += 1
    timer = _timers.get(key)
    if timer is None:
        timer = _timers[key] = DURATION.labels(key[0], route, str(status))
    timer.observe(seconds)


async def count_unrouted(message: Message, scope: Scope) -> None:
    """Litestar's `before_send` hook: counts the answers it sends before a route is found (no such path, or a method
    the path does not take). Routed answers have a route handler in their scope, and are counted by `count_routed`."""
    if message["type"] == "http.response.start" and "route_handler" not in scope:
        method = str(scope.get("method"))
        ANSWERED[method if method in METHODS else "other", NO_ROUTE, message["status"]] += 1


def count_refused(method: str, status: int) -> None:
    """A request refused before routing (request limits: entrypoints/http/limits.py)."""
    ANSWERED[method if method in METHODS else "other", NO_ROUTE, status] += 1


class WorkerMetrics:
    """A worker's gauges and the counters it adds to; made in the worker (a gauge writes its file when made)."""

    def __init__(self, live: LiveCache, pool: PoolUse | None) -> None:
        self.live, self.pool = live, pool
        self._seen: dict[str, float] = {}  # what the counters below were last told, by source

        def gauge(
            name: str, doc: str, mode: Literal["livesum", "liveall"] = "livesum", labels: tuple[str, ...] = ()
        ) -> Gauge:
            return Gauge(name, doc, labels, multiprocess_mode=mode, registry=None)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, registry=None)

        self.prompts = gauge("org_agents_live_cache_prompts", "Live prompts held in memory, all workers")
        self.prompt_bytes = gauge("org_agents_live_cache_prompt_bytes", "Their size in UTF-8, all workers")
        self.principals = gauge("org_agents_live_cache_principals", "Token principals held in memory, all workers")
        self.hits = counter("org_agents_live_cache_hits", "Live prompts asked for and answered from memory")
        self.misses = counter("org_agents_live_cache_misses", "Live prompts asked for and read from the database")
        self.connected = gauge(
            "org_agents_change_feed_connected", "1 while the worker's change feed listens (its live cache is on)",
            mode="liveall",
        )  # fmt: skip
        self.watches = gauge("org_agents_watches", "Watches (?wait= requests) held now, all workers")
        self.connections = gauge(
            "org_agents_pool_connections", "Database connections open, all workers' pools", labels=("state",)
        )
        self.in_use, self.idle = self.connections.labels("in_use"), self.connections.labels("idle")
        self.max_connections = gauge("org_agents_pool_max_connections", "The pools' maximum size, all workers")
        self.waiting = gauge("org_agents_pool_requests_waiting", "Requests waiting for a connection now")
        self.waits = counter("org_agents_pool_waits", "Requests that had to wait for a connection")
        self.wait_seconds = counter("org_agents_pool_wait_seconds", "Time requests waited for a connection")
        self.timeouts = counter("org_agents_pool_timeouts", "Requests that gave up waiting for a connection (503)")

    def record(self) -> None:
        """Adds what was counted since the last call; sets the gauges to what they are now."""
        for (method, route, status), n in ANSWERED.items():
            if n:
                REQUESTS.labels(method, route, str(status), "false").inc(n)
                ANSWERED[method, route, status] = 0
        for status, n in FROM_MEMORY.items():
            if n:
                REQUESTS.labels("GET", ROUTE, str(status), "true").inc(n)
                FROM_MEMORY[status] = 0
        live = self.live
        prompts, prompt_bytes, principals = live.sizes
        self.prompts.set(prompts)
        self.prompt_bytes.set(prompt_bytes)
        self.principals.set(principals)
        self._advance(self.hits, "hits", live.prompt_hits)
        self._advance(self.misses, "misses", live.prompt_misses)
        self.connected.set(1 if live.attached else 0)
        self.watches.set(live.watching)
        if self.pool is not None:
            stats = self.pool()
            self.in_use.set(stats.size - stats.idle)
            self.idle.set(stats.idle)
            self.max_connections.set(stats.max_size)
            self.waiting.set(stats.waiting)
            self._advance(self.waits, "waits", stats.waited)
            self._advance(self.wait_seconds, "wait_s", stats.wait_s)
            self._advance(self.timeouts, "timeouts", stats.timeouts)

    def _advance(self, counter: Counter, source: str, total: float) -> None:
        """`total` counts since its source began; a source that began again (a smaller total) counts from 0."""
        before = self._seen.get(source, 0.0)
        added = total - before if total >= before else total
        if added:
            counter.inc(added)
        self._seen[source] = total


@asynccontextmanager
async def recording(deps: Deps, every_s: float = RECORD_EVERY_S) -> AsyncIterator[WorkerMetrics]:
    """Records once at once, then every `every_s` seconds, and a last time when the block ends."""
    metrics = WorkerMetrics(deps.live, deps.pool)

    async def every_while() -> None:
        while True:
            try:
                metrics.record()
            except Exception as exc:  # a metric that cannot be written must not stop the others for good
                log.warning("metrics not recorded: %s", exc)
            await asyncio.sleep(every_s)

    task = asyncio.create_task(every_while(), name="org-agents metrics")
    try:
        yield metrics
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        metrics.record()
