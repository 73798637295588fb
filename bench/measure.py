"""The measurements against a running serve and the database, and (d)'s correctness verdict."""

import math
import os
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final
from uuid import UUID

import msgspec
import psutil
import psycopg

from adapters.postgres.blueprints import SELECT_LIVE_PROMPT
from bench.wrk import Env, Run, wrk
from entrypoints.http.live_prompt import ROUTE
from tests.serving import Serving, serving

RESULTS: Final = Path(__file__).parent / "results"
ACCESS_LINE: Final = "org_agents.access: "  # entrypoints/http/logs.py
SETTLE_TIMEOUT_S: Final = 30.0
# The service's pool names its connections "org-agents" (adapters/postgres/pool.py).
SERVICE_BUSY: Final = """
    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'org-agents'
    AND state IS DISTINCT FROM 'idle'
"""
VERSIONS: Final = "SELECT count(*), min(version), max(version) FROM agent_blueprints WHERE agent_id = %s"
WRITERS: Final = 32  # (d), all on one agent: every writer queues on its row lock
LIST_CONNECTIONS: Final = 16  # (e)
MIN_LOAD_S: Final = 60  # (g) reads memory after this much load


UNREFUSED_RATE: Final = "1000000000"  # requests per second per credential: the limiter runs, and never says no


class BenchFailed(RuntimeError):
    """A measurement could not be taken as designed; the message says what happened."""


class Options(msgspec.Struct, frozen=True, kw_only=True):
    duration_s: int
    runs: int
    warmup_s: int
    connections: int  # (a), (b)…(b4)
    changes: int  # (h), of each kind
    servers: list[str]
    workers: list[int]
    watchers: int = 1_000  # (i), over two instances
    idle_watchers: int = 10_000  # (j), per worker
    watch_only: bool = False  # the seed, (i) and (j), nothing else


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction - 1e-9)) - 1]  # 100 * 0.95 is 95.00000000000001


class Load(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    connections: int
    runs: list[Run]

    @property
    def per_s(self) -> list[float]:
        return [run.per_s for run in self.runs]


class Versions(msgspec.Struct, frozen=True):
    count: int
    lowest: int | None
    highest: int | None

    @property
    def gapless(self) -> bool:
        return self.count == 0 or (self.lowest == 1 and self.highest == self.count)


class WriteRun(msgspec.Struct, frozen=True, kw_only=True):
    wrk: Run
    before: Versions
    after: Versions  # once serve has finished what was in flight when wrk stopped

    @property
    def created(self) -> int:
        return self.wrk.statuses.get(201, 0)

    @property
    def unacknowledged(self) -> int:
        """Committed, but wrk hung up before reading the 201 (at most one per connection); < 0: a write lost."""
        return self.after.count - self.before.count - self.created

    def problems(self, connections: int) -> list[str]:
        found = []
        if not self.after.gapless:
            found.append(f"{self.after.count} versions numbered {self.after.lowest}..{self.after.highest}, not gapless")
        if self.unacknowledged < 0:
            found.append(f"{-self.unacknowledged} acknowledged write(s) lost: {self.created} answered 201")
        elif self.unacknowledged > connections:
            found.append(f"{self.unacknowledged} committed unacknowledged, more than {connections} connections")
        others = {status: n for status, n in self.wrk.statuses.items() if status != 201}
        if others or self.wrk.socket_errors:
            found.append(f"errors: statuses {others}, socket errors {self.wrk.socket_errors}")
        return found


class Writes(msgspec.Struct, frozen=True, kw_only=True):
    connections: int
    warmup: WriteRun | None  # untimed, but checked like the runs
    runs: list[WriteRun]

    def failures(self) -> list[str]:
        """(d)'s verdict: every problem of the warm-up and of each run (none: correct)."""
        labelled = [("warm-up", self.warmup)] if self.warmup else []
        labelled += [(f"run {n}", run) for n, run in enumerate(self.runs, start=1)]
        return [f"{label}: {problem}" for label, run in labelled for problem in run.problems(self.connections)]


class Process(msgspec.Struct, frozen=True):
    rss_mb: float
    worker: bool


class Memory(msgspec.Struct, frozen=True):
    load_s: float
    processes: list[Process]

    @property
    def worker_mb(self) -> float:
        return max((p.rss_mb for p in self.processes if p.worker), default=math.nan)


def processes(pid: int) -> list[Process]:
    """serve and the processes under it; its workers are its children (itself when it has none), but for
    multiprocessing's resource tracker."""
    root = psutil.Process(pid)
    children = [child for child in root.children(recursive=True) if "resource_tracker" not in str(child.cmdline())]
    return [Process(round(p.memory_info().rss / 2**20, 1), p != root or not children) for p in [root, *children]]


class Access(msgspec.Struct, frozen=True):
    route: str
    request_id: str
    from_memory: bool = False  # the hot path's answer from the live cache; absent: Litestar's route answered


def access_log(path: Path) -> Iterator[Access]:
    with path.open(errors="replace") as log:
        for line in log:
            _, found, payload = line.partition(ACCESS_LINE)
            if found:
                try:
                    yield msgspec.json.decode(payload, type=Access)
                except msgspec.DecodeError:
                    continue


def prompts_answered(entries: Iterable[Access]) -> tuple[int, int]:
    """(live prompts answered, of them from memory by the hot path)."""
    prompts = [entry.from_memory for entry in entries if entry.route == ROUTE]
    return len(prompts), sum(prompts)


class Bench:
    """Options, progress, the serves it starts and the seconds of load each has taken."""

    def __init__(self, options: Options, conninfo: str, tmp: Path, stamp: str) -> None:
        self.options, self.conninfo, self.tmp, self.stamp = options, conninfo, tmp, stamp
        self.started = time.monotonic()
        self.load_s: dict[int, float] = {}  # by serve's pid

    def progress(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    @contextmanager
    def serve(self, name: str, args: Sequence[str] = (), env: Env = None) -> Iterator[Serving]:
        """`org-agents serve` with its defaults (no ORG_AGENTS_* of ours) on the bench's database, plus `env`; but
        for its rate per credential, so high that it never refuses: the limits run on every request, as they do by
        default, and the load of one credential is measured instead of refused."""
        log = RESULTS / f"{self.stamp}-serve-{name}.log"
        self.progress(f"starting org-agents serve {' '.join(args)} {dict(env or {})} (log: {log})")
        environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ORG_AGENTS_")}
        environment |= {"DATABASE_URL": self.conninfo, "ORG_AGENTS_DATA_DIR": str(self.tmp / name),
                        "ORG_AGENTS_RATE_LIMIT": UNREFUSED_RATE, **(env or {})}  # fmt: skip
        with serving(environment, log, args) as served:
            yield served

    def wrk(
        self, served: Serving, path: str, seconds: int, connections: int, headers: Env = None, env: Env = None
    ) -> Run:
        run = wrk(served.url + path, connections, seconds, headers, env)
        if (code := served.proc.poll()) is not None:
            raise BenchFailed(f"serve exited with {code}:\n{served.log_text()[-3000:]}")
        self.load_s[served.proc.pid] = self.load_s.get(served.proc.pid, 0.0) + run.seconds
        return run

    def load(
        self, served: Serving, name: str, path: str, connections: int = 0, headers: Env = None, env: Env = None
    ) -> Load:
        """GET `path` (or what BENCH_PATHS_FILE lists): a warm-up, then the timed runs; an error answer fails it."""
        o, c, runs = self.options, connections or self.options.connections, []
        for n in range(o.runs + 1):
            run = self.wrk(served, path, o.duration_s if n else o.warmup_s, c, headers, env)
            if run.errors.status:
                raise BenchFailed(f"{name}: {run.errors.status} of {run.requests} answers were errors")
            if n:
                runs.append(run)
                self.progress(f"{name} run {n}/{o.runs}: {run.per_s:,.0f} req/s, p50 {run.p50_us / 1000:.2f} ms, "
                              f"p99 {run.p99_us / 1000:.2f} ms, socket errors {run.socket_errors}")  # fmt: skip
        return Load(name=name, connections=c, runs=runs)

    def writes(self, served: Serving, agent_id: UUID, headers: Env, body_file: Path) -> Writes:
        """(d): writers POST versions of one agent; its versions are checked after every run, the warm-up's too."""
        o, env, path, runs = self.options, {"BENCH_BODY_FILE": str(body_file)}, f"/org-agents/{agent_id}/blueprints", []
        for n in range(o.runs + 1):
            before = self.settled_versions(agent_id)
            run = self.wrk(served, path, o.duration_s if n else o.warmup_s, WRITERS, headers, env)
            runs.append(write := WriteRun(wrk=run, before=before, after=self.settled_versions(agent_id)))
            verdict = write.problems(WRITERS) or "correct"
            self.progress(
                f"(d) {f'run {n}' if n else 'warm-up'}: {write.created / run.seconds:,.0f} versions/s, "
                f"N {write.after.count}, {verdict}"
            )
        return Writes(connections=WRITERS, warmup=runs[0], runs=runs[1:])

    def settled_versions(self, agent_id: UUID) -> Versions:
        """The agent's versions once no service connection is busy and two readings in a row agree."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        previous = None
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while True:
                busy = conn.execute(SERVICE_BUSY).fetchone()
                current = Versions(*(conn.execute(VERSIONS, [agent_id]).fetchone() or (0, None, None)))
                if busy == (0,) and current == previous:
                    return current
                if time.monotonic() > deadline:
                    raise BenchFailed(f"(d) serve was still writing {SETTLE_TIMEOUT_S:.0f} s after the load")
                previous = current
                time.sleep(0.05)

    def floor(self, org_id: UUID, agent_id: UUID) -> list[float]:
        """(c): the hot path's SELECT back to back on one autocommit connection; queries/s per run."""
        params = {"org_id": org_id, "agent_id": agent_id}
        rates = []
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            if conn.execute(SELECT_LIVE_PROMPT, params).fetchone() is None:
                raise BenchFailed("(c) the hot path's SELECT finds no live prompt")
            for _ in range(self.options.runs):
                queries, started = 0, time.perf_counter()
                while time.perf_counter() - started < self.options.duration_s:
                    conn.execute(SELECT_LIVE_PROMPT, params).fetchone()
                    queries += 1
                rates.append(queries / (time.perf_counter() - started))
                self.progress(f"(c) {rates[-1]:,.0f} queries/s")
        return rates

    def memory(self, served: Serving, path: str = "", headers: Env = None) -> Memory:
        """(g): RSS of serve and its workers, once it has taken MIN_LOAD_S of load (topped up with GET `path`)."""
        if path and (missing := math.ceil(MIN_LOAD_S - self.load_s.get(served.proc.pid, 0.0))) > 0:
            self.progress(f"(g) {missing} s more of load before memory is read")
            self.wrk(served, path, missing, self.options.connections, headers)
        memory = Memory(round(self.load_s.get(served.proc.pid, 0.0), 1), processes(served.proc.pid))
        self.progress(f"after {memory.load_s:.0f} s of load: {memory.worker_mb:.0f} MB per worker")
        return memory

    def check_routes(self, served: Serving, name: str) -> None:
        """(b3), (b4): after serve has stopped, its log must show every live prompt came from Litestar's route."""
        answered, from_memory = prompts_answered(access_log(served.log))
        self.progress(f"{name}: {from_memory} of {answered} live prompts in its log came from the hot path")
        if not answered or from_memory:
            raise BenchFailed(f"{name}: {from_memory} of {answered} live prompts logged came from the hot path")
