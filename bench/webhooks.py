"""`python -m bench.webhooks`: how fast `org-agents serve` delivers webhooks, and how late.

One serve (2 workers by default) on a scratch database of DATABASE_URL's server (an embedded PostgreSQL without
it: bench/seed.py's `bench_database`); a receiver on loopback, in a thread of this process, answers 204 at once
and notes when each request had been read. The changes are agent creations made here through the application's
use cases on serve's database, as another instance or the CLI would make them: each commits its event in the
outbox, which serve's workers deliver. Three runs, each in an organization of its own:

- storm: N changes by STORM_WRITERS writers at once, to one endpoint (whose deliveries go one at a time, in
  order);
- fan-out: the same storm to `--fan-out` endpoints of the organization (each change is a delivery to each);
- paced: `--rate` changes a second for `--seconds`, one endpoint: the lag when nothing queues.

Throughput is deliveries over the time from the first change's timestamp to the last receipt; lag is each
delivery's receipt less its event's timestamp (the body's `timestamp`: the change's clock reading, taken in its
transaction just before the commit). Markdown to stdout, progress to stderr, the raw numbers to
bench/results/<timestamp>-webhooks.json and serve's log next to it. Exits 1 when an event is not delivered within
DRAIN_TIMEOUT_S or serve fails.
"""

import argparse
import asyncio
import http.server
import os
import platform
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, LiteralString

import httpx
import msgspec
import psycopg

from application.agents import CreateAgent, create_agent
from application.deps import Deps
from application.tokens import CreateToken, create_token
from application.webhooks import CreateWebhook, create_webhook
from bench.measure import RESULTS, UNREFUSED_RATE, BenchFailed, percentile
from bench.seed import bench_database
from domain.roles import Principal, Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.settings import Settings
from tests.serving import ServeFailed, Serving, serving

STORM_WRITERS: Final = 8  # use cases in flight at once in a storm; below the pool's connections
DRAIN_TIMEOUT_S: Final = 120.0  # after the last change, every delivery must have arrived by then
CREATIONS: Final[LiteralString] = """
    SELECT e.id::text, e.occurred_at FROM agent_audit_events e
    WHERE e.org_id = %s AND e.action = 'agent.create'
"""
FAILURES: Final = (BenchFailed, ServeFailed, psycopg.Error, httpx.HTTPError)


class Options(msgspec.Struct, frozen=True, kw_only=True):
    changes: int  # storm and fan-out
    fan_out: int  # endpoints of the fan-out run; 0: no such run
    rate: float  # paced run, changes/s
    seconds: float  # paced run
    workers: int


class Arrival(msgspec.Struct, frozen=True):
    path: str  # which endpoint: /hook/<n>
    event_id: str
    at: float  # time.time() once the whole request had been read
    body: bytes


class Body(msgspec.Struct, frozen=True):
    timestamp: datetime


class Run(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    endpoints: int
    changes: int
    offered_s: float  # from the first change's timestamp to the last commit
    drain_s: float  # from the first change's timestamp to the last delivery's receipt
    lag_ms: list[float]  # per delivery, its first receipt less its event's timestamp
    duplicates: int  # receipts of a (endpoint, event) after its first

    @property
    def deliveries(self) -> int:
        return self.changes * self.endpoints

    @property
    def per_s(self) -> float:
        """Deliveries a second, the first change's timestamp to the last receipt."""
        return self.deliveries / self.drain_s

    @property
    def offered_per_s(self) -> float:
        return self.changes / self.offered_s if self.offered_s > 0 else float("nan")


class Results(msgspec.Struct, frozen=True, kw_only=True):
    started_at: datetime
    seconds: float
    command: str
    options: Options
    machine: dict[str, str]
    runs: list[Run]


def summary(
    name: str, events: dict[str, datetime], paths: Sequence[str], arrivals: Sequence[Arrival], committed_at: float
) -> Run:
    """One run's numbers: `events` are the changes' event ids with their timestamps, `paths` the endpoints each
    went to, `committed_at` (time.time()) when the last change had committed. BenchFailed if a delivery is
    missing, or an arrival is of an event or endpoint of another run."""
    first: dict[tuple[str, str], float] = {}
    duplicates = 0
    for arrival in arrivals:
        key = (arrival.path, arrival.event_id)
        if arrival.event_id not in events or arrival.path not in paths:
            raise BenchFailed(f"{name}: an event that is not this run's arrived at {arrival.path}: {arrival.event_id}")
        if key in first:
            duplicates += 1
        else:
            stamped = msgspec.json.decode(arrival.body, type=Body).timestamp
            if stamped != events[arrival.event_id]:
                raise BenchFailed(f"{name}: event {arrival.event_id}'s body says {stamped}, its audit event otherwise")
            first[key] = arrival.at
    missing = len(events) * len(paths) - len(first)
    if missing:
        raise BenchFailed(f"{name}: {missing} of {len(events) * len(paths)} deliveries never arrived")
    start = min(events.values()).timestamp()
    lags = [round((at - events[event_id].timestamp()) * 1000, 3) for (_, event_id), at in first.items()]
    return Run(
        name=name, endpoints=len(paths), changes=len(events), offered_s=round(committed_at - start, 3),
        drain_s=round(max(first.values()) - start, 3), lag_ms=sorted(lags), duplicates=duplicates,
    )  # fmt: skip


class Receiver:
    """HTTP on loopback, in threads: every POST answered 204 at once, and noted with the time it was read."""

    def __init__(self) -> None:
        self._arrivals: list[Arrival] = []
        self._distinct: set[tuple[str, str]] = set()  # (endpoint, event) of the arrivals
        self._changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                arrival = Arrival(self.path, self.headers.get("webhook-id") or "", time.time(), body)
                with receiver._changed:
                    receiver._arrivals.append(arrival)
                    receiver._distinct.add((arrival.path, arrival.event_id))
                    receiver._changed.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="webhook receiver", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def taken(self) -> list[Arrival]:
        """Every arrival so far; the receiver starts over."""
        with self._changed:
            found, self._arrivals, self._distinct = self._arrivals, [], set()
            return found

    def wait_for(self, deliveries: int, timeout_s: float) -> None:
        """Until the distinct (endpoint, event) pairs received reach `deliveries`; BenchFailed after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self._distinct) < deliveries:
                if (left := deadline - time.monotonic()) <= 0:
                    got = len(self._distinct)
                    raise BenchFailed(f"{got} of {deliveries} deliveries arrived within {timeout_s:.0f} s")
                self._changed.wait(min(left, 1.0))


@contextmanager
def receiving() -> Iterator[Receiver]:
    made = Receiver()
    try:
        yield made
    finally:
        made.close()


def progress(started: float, message: str) -> None:
    print(f"[bench.webhooks {time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


class Changes:
    """Makes the changes through the use cases, on a pool of this process's, and reads back their events."""

    def __init__(self, deps: Deps, conninfo: str) -> None:
        self.deps, self.conninfo = deps, conninfo

    async def organization(self, name: str, urls: Sequence[str]) -> Principal:
        """A new organization's owner, with an endpoint told of agent creations at each of `urls`."""
        issued = await create_token(self.deps, CreateToken(org_name=name, user_id="owner", role=Role.OWNER))
        who = Principal(org_id=issued.token.org_id, user_id="owner", role=Role.OWNER, token_id=issued.token.id)
        for url in urls:
            await create_webhook(self.deps, who, CreateWebhook(url=url, events=["agent.created"]))
        return who

    async def storm(self, who: Principal, changes: int) -> float:
        """`changes` agents created by STORM_WRITERS writers at once; time.time() after the last commit."""

        async def writer(first: int) -> None:
            for n in range(first, changes, STORM_WRITERS):
                await create_agent(self.deps, who, CreateAgent(name=f"Agent {n}"))

        await asyncio.gather(*(writer(w) for w in range(STORM_WRITERS)))
        return time.time()

    async def paced(self, who: Principal, rate: float, seconds: float) -> tuple[int, float]:
        """A change every 1/rate s for `seconds` (each on its slot, or at once when late); (changes, time.time()
        after the last commit)."""
        count, start = round(rate * seconds), time.monotonic()
        for n in range(count):
            if (wait := start + n / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)  # pacing the load, not waiting for an outcome
            await create_agent(self.deps, who, CreateAgent(name=f"Agent {n}"))
        return count, time.time()

    def events(self, who: Principal) -> dict[str, datetime]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return {event_id: at for event_id, at in conn.execute(CREATIONS, [who.org_id])}


async def measure(o: Options, conninfo: str, tmp: Path, receiver: Receiver, started: float) -> list[Run]:
    settings = Settings(
        database_url=conninfo, data_dir=tmp / "bench", webhook_allow_private=True, pool_max_size=STORM_WRITERS + 2
    )
    plan = [("storm", 1), *([("fan-out", o.fan_out)] if o.fan_out > 0 else []), ("paced", 1)]
    runs = []
    async with postgres_deps(settings, conninfo, follow_changes=False) as deps:
        changes = Changes(deps, conninfo)
        for name, endpoints in plan:
            paths = [f"/hook/{name}/{n}" for n in range(endpoints)]
            who = await changes.organization(f"bench-{name}", [receiver.url + path for path in paths])
            receiver.taken()  # nothing of an earlier run is counted in this one
            if name == "paced":
                progress(started, f"{name}: {o.rate:g} changes/s for {o.seconds:g} s to 1 endpoint")
                count, committed_at = await changes.paced(who, o.rate, o.seconds)
            else:
                progress(started, f"{name}: {o.changes:,} changes, {STORM_WRITERS} writers, {endpoints} endpoint(s)")
                count, committed_at = o.changes, await changes.storm(who, o.changes)
            await asyncio.to_thread(receiver.wait_for, count * endpoints, DRAIN_TIMEOUT_S)
            run = summary(name, changes.events(who), paths, receiver.taken(), committed_at)
            runs.append(run)
            progress(started, f"{name}: {run.deliveries:,} deliveries in {run.drain_s:.2f} s, {run.per_s:,.0f}/s; "
                              f"lag p50 {percentile(run.lag_ms, 0.5):,.1f} ms, p99 {percentile(run.lag_ms, 0.99):,.1f} "
                              f"ms; {run.duplicates} duplicate(s)")  # fmt: skip
    return runs


def machine(conninfo: str, kind: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        postgres = str((conn.execute("SHOW server_version").fetchone() or ["?"])[0])
    return {
        "machine": f"{len(os.sched_getaffinity(0))} cores; {platform.freedesktop_os_release()['PRETTY_NAME']}, "
        f"Linux {platform.release()}",
        "software": f"Python {platform.python_version()}, PostgreSQL {postgres} ({kind})",
    }


def run(o: Options, stamp: str, command: str) -> Results:
    started_at, started = datetime.now(UTC), time.monotonic()
    RESULTS.mkdir(exist_ok=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="org-agents-bench-webhooks-")))
        conninfo, kind = stack.enter_context(bench_database(tmp))
        about = machine(conninfo, kind)
        environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ORG_AGENTS_")}
        environment |= {
            "DATABASE_URL": conninfo, "ORG_AGENTS_DATA_DIR": str(tmp / "serve"),
            "ORG_AGENTS_WEBHOOK_ALLOW_PRIVATE": "1", "ORG_AGENTS_RATE_LIMIT": UNREFUSED_RATE,
        }  # fmt: skip
        log = RESULTS / f"{stamp}-serve-webhooks.log"
        progress(started, f"starting org-agents serve --workers {o.workers} (log: {log})")
        served: Serving = stack.enter_context(serving(environment, log, ["--workers", str(o.workers)]))
        receiver = stack.enter_context(receiving())
        runs = asyncio.run(measure(o, conninfo, tmp, receiver, started))
        if (code := served.proc.poll()) is not None:
            raise BenchFailed(f"serve exited with {code}:\n{served.log_text()[-3000:]}")
    results = Results(
        started_at=started_at, seconds=round(time.monotonic() - started, 1), command=command, options=o,
        machine=about, runs=runs,
    )  # fmt: skip
    (path := RESULTS / f"{stamp}-webhooks.json").write_bytes(msgspec.json.format(msgspec.json.encode(results)) + b"\n")
    progress(started, f"results: {path}")
    return results


def render(r: Results) -> str:
    header = ["Run", "Endpoints", "Changes", "Offered changes/s", "Deliveries/s", "Lag p50 ms", "Lag p99 ms",
              "Lag max ms", "Duplicates"]  # fmt: skip
    rows = [
        [run.name, str(run.endpoints), f"{run.changes:,}", f"{run.offered_per_s:,.0f}", f"{run.per_s:,.0f}",
         f"{percentile(run.lag_ms, 0.5):,.1f}", f"{percentile(run.lag_ms, 0.99):,.1f}", f"{max(run.lag_ms):,.1f}",
         str(run.duplicates)]
        for run in r.runs
    ]  # fmt: skip
    lines = [
        f"- Machine: {r.machine['machine']}; software: {r.machine['software']}",
        f"- Command: `{r.command}` ({r.seconds:.0f} s in all); serve --workers {r.options.workers}",
        "",
        *("| " + " | ".join(line) + " |" for line in [header, ["---"] * len(header), *rows]),
        "",
    ]
    return "\n".join(lines)


def options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=1_000, help="changes of the storm and fan-out (default 1,000)")
    parser.add_argument("--fan-out", type=int, default=4, help="endpoints of the fan-out run; 0: none (default 4)")
    parser.add_argument("--rate", type=float, default=20.0, help="changes/s of the paced run (default 20)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the paced run (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    args = parser.parse_args(argv)
    return Options(changes=args.changes, fan_out=args.fan_out, rate=args.rate, seconds=args.seconds,
                   workers=args.workers)  # fmt: skip


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    command = " ".join(["uv run python -m bench.webhooks", *map(shlex.quote, argv)])
    try:
        results = run(options(argv), stamp, command)
    except KeyboardInterrupt:
        return 130
    except FAILURES as exc:
        print(f"bench.webhooks: {exc}", file=sys.stderr)
        return 1
    print(render(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
