"""What a bench run measures and records: the JSON written to bench/results/ is `Report` encoded by msgspec."""

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

import msgspec

from bench.wrk import WrkResult


class Runs(msgspec.Struct, frozen=True, kw_only=True):
    """Repeated runs of one measurement: their median and every value, in run order."""

    median: float
    raw: list[float]


def runs_of(values: Sequence[float]) -> Runs:
    if not values:
        raise ValueError("no runs")
    return Runs(median=statistics.median(values), raw=list(values))


def ratio_of(numerators: Runs, denominators: Runs) -> Runs:
    """The ratio of the medians; `raw` holds the ratio of each pair of runs (run i over run i)."""
    raw = [n / d if d else float("nan") for n, d in zip(numerators.raw, denominators.raw, strict=True)]
    median = numerators.median / denominators.median if denominators.median else float("nan")
    return Runs(median=median, raw=raw)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values or not 0 < fraction <= 1:
        raise ValueError("need values and 0 < fraction <= 1")
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * fraction - 1e-9))  # 100 * 0.95 is 95.00000000000001 in floats
    return ordered[rank - 1]


class HttpLoad(msgspec.Struct, frozen=True, kw_only=True):
    """One endpoint under wrk, `len(runs)` times."""

    name: str
    path: str
    connections: int
    duration_s: int
    requests_per_s: Runs
    p50_ms: Runs
    p99_ms: Runs
    non_2xx_3xx: int  # over all runs
    socket_errors: int  # over all runs
    runs: list[WrkResult]
    outputs: list[str]  # wrk's output of each run, verbatim


class VersionCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The writer agent's versions in the database: count, lowest and highest number."""

    count: int
    min_version: int | None
    max_version: int | None

    @property
    def gapless(self) -> bool:
        """Numbered exactly 1..count."""
        return self.count == 0 or (self.min_version == 1 and self.max_version == self.count)


class WriteRun(msgspec.Struct, frozen=True, kw_only=True):
    wrk: WrkResult
    created: int  # 201 responses wrk read
    errors: int  # responses other than 201, plus socket errors
    versions_per_s: float  # created / wrk's duration
    before: VersionCheck
    after: VersionCheck  # once the server has finished what was in flight when wrk stopped
    gapless: bool
    # Versions committed whose 201 wrk never read: requests in flight when wrk hung up at the end of the run (the
    # server finishes them). Below zero would mean an acknowledged write is missing.
    unacknowledged: int


def write_problems(run: WriteRun, connections: int) -> list[str]:
    """What is wrong with one run of (d), if anything. After the run the versions must be numbered 1..N with no
    gap; at least as many must have been added as wrk read 201s (fewer: an acknowledged write was lost); at most
    `connections` more (a write in flight per connection when wrk stopped); and every response must have been a 201,
    with no socket error."""
    problems = []
    after, added = run.after, run.after.count - run.before.count
    if not after.gapless:
        problems.append(
            f"the version numbers are not gapless: {after.count} versions numbered {after.min_version}.."
            f"{after.max_version}, not 1..{after.count}"
        )
    if added < run.created:
        problems.append(
            f"{run.created - added} acknowledged write(s) lost: {run.created} versions answered 201 but {added} were "
            "stored"
        )
    elif added - run.created > connections:
        problems.append(
            f"{added - run.created} versions committed but unacknowledged, more than the {connections} connections "
            "could have had in flight"
        )
    if run.errors:
        statuses = {status: count for status, count in sorted(run.wrk.statuses.items()) if status != 201}
        problems.append(
            f"{run.errors} error(s): responses other than 201 {statuses}, socket errors {run.wrk.socket_errors.total}"
        )
    return problems


def write_failures(runs: Sequence[WriteRun], connections: int, *, warmup: WriteRun | None = None) -> list[str]:
    """(d)'s correctness verdict: every problem of the warm-up and of each run, labelled (none: all correct)."""
    labelled = [("warm-up", warmup)] if warmup is not None else []
    labelled += [(f"run {n}", run) for n, run in enumerate(runs, start=1)]
    return [f"{label}: {problem}" for label, run in labelled for problem in write_problems(run, connections)]


class WriteLoad(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    path: str
    connections: int
    duration_s: int
    versions_per_s: Runs
    errors: int  # over all runs
    gapless: bool  # after every run
    acknowledged_kept: bool  # every run: 0 <= unacknowledged <= connections
    warmup: WriteRun | None  # untimed, but checked like the runs (see write_failures)
    runs: list[WriteRun]
    outputs: list[str]


class CacheOff(msgspec.Struct, frozen=True, kw_only=True):
    """(b3) (b)'s load on a serve of its own, identical but for its live cache turned off."""

    env: dict[str, str]  # added to that serve's environment
    prompt: HttpLoad
    log_file: str  # file name in bench/results/
    prompts_logged: int  # GETs of a live prompt in that serve's access log
    prompts_from_memory: int  # of them, answered from the live cache: none when it is off


class DatabaseFloor(msgspec.Struct, frozen=True, kw_only=True):
    """The hot path's SELECT in a tight loop on one connection (autocommit; psycopg prepares it after 5 runs)."""

    statement: str
    duration_s: float
    queries_per_s: Runs


class CompileTiming(msgspec.Struct, frozen=True, kw_only=True):
    document_bytes: int
    prompt_chars: int
    warnings: int
    compiles: int
    median_ms: float
    p95_ms: float
    samples_ms: list[float]


class ProcessMemory(msgspec.Struct, frozen=True, kw_only=True):
    pid: int
    parent: int | None  # None for the serve process itself
    command: str
    rss_mb: float
    worker: bool  # serves requests: the serve process when it has no children, else its children


class MemoryReading(msgspec.Struct, frozen=True, kw_only=True):
    load_s: float  # seconds of load the server had taken when read
    processes: list[ProcessMemory]

    @property
    def max_worker_mb(self) -> float:
        return max((p.rss_mb for p in self.processes if p.worker), default=float("nan"))


class Sighting(msgspec.Struct, frozen=True, kw_only=True):
    """(h) One polling connection's first response with the new live version after a change."""

    ms: float  # after the change was known committed (t0)
    polls: int  # requests it took, the one that saw the change included


class Staleness(msgspec.Struct, frozen=True, kw_only=True):
    """(h) One way of changing the live version, repeated, as one instance served it. Per change, the slowest of
    the instance's polling connections counts."""

    change: str  # how the change was made
    observer: str  # the instance polled, and how
    connections: int  # keep-alive connections polling it, each until it served the new version
    median_ms: float
    p95_ms: float
    max_ms: float
    samples_ms: list[float]  # per change, in order: the slowest connection's
    polls: list[int]  # per change: the most requests a connection needed
    sightings: list[list[Sighting]]  # per change, per connection


def staleness_of(change: str, observer: str, sightings: Sequence[Sequence[Sighting]]) -> Staleness:
    """Per change, the slowest connection; then the median, nearest-rank p95 and max over the changes."""
    if not sightings or any(not per_change for per_change in sightings):
        raise ValueError("no changes, or a change nobody polled")
    connections = {len(per_change) for per_change in sightings}
    if len(connections) != 1:
        raise ValueError("every change is polled over the same connections")
    samples = [max(s.ms for s in per_change) for per_change in sightings]
    return Staleness(
        change=change,
        observer=observer,
        connections=connections.pop(),
        median_ms=statistics.median(samples),
        p95_ms=percentile(samples, 0.95),
        max_ms=max(samples),
        samples_ms=samples,
        polls=[max(s.polls for s in per_change) for per_change in sightings],
        sightings=[list(per_change) for per_change in sightings],
    )


class StalenessPhase(msgspec.Struct, frozen=True, kw_only=True):
    """(h) How long after a change one instance commits every other serves it: the live version of the hot agent
    switched back and forth while a second serve (B) and the main one (A) are polled."""

    agent_id: str
    versions: list[str]  # the two compiled versions switched between; the first was live before the phase
    created_version: bool  # the second was added and compiled (on A, over HTTP) for the phase
    changes: int  # of each kind
    fail_after_ms: float  # a change not served within this fails the run
    b_args: list[str]  # what was added to B's `org-agents serve`
    b_log: str  # file name in bench/results/
    a_workers: int
    b_workers: int
    listeners: int  # change-feed connections (application_name org-agents-changes) open before measuring
    # B's access log, by X-Request-ID: were its answers just before each change (`b_checked` of them) served from
    # its cache (the hot path), and its first answers with the change (one per change) too, or read from the
    # database (a cache miss, as an invalidation leaves it)?
    b_checked: int
    b_before_logged: int
    b_before_from_memory: int
    b_seen_logged: int
    b_seen_from_memory: int
    series: list[Staleness]  # activate over HTTP on A (B polled); SQL (B polled); SQL (A polled)
    restored: bool  # the first version is live again, as A and B serve it


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True):
    server: str | None  # None: serve's default
    workers: int | None
    args: list[str]  # what was added to `org-agents serve`

    @property
    def label(self) -> str:
        return f"{self.server or 'default'}-w{self.workers or 'default'}"


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    config: ServerConfig
    health: HttpLoad | None = None
    prompt: HttpLoad | None = None
    memory: MemoryReading | None = None
    log_file: str | None = None
    error: str | None = None


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    cpu_model: str
    cores: int
    ram_gib: float
    os: str
    kernel: str
    python: str
    postgres: str
    database: str  # "embedded" or "DATABASE_URL"
    wrk: str
    packages: dict[str, str]
    commit: str | None
    uncommitted_changes: bool | None


class SeedInfo(msgspec.Struct, frozen=True, kw_only=True):
    organizations: int
    agents: int
    hot_agent_id: str
    writer_agent_id: str
    shallow_agent_id: str
    shallow_versions: int
    deep_agent_id: str
    deep_versions: int
    live_agents: int  # agents with a compiled, active version, the hot one included: (b2) cycles through them
    seconds: float


class Options(msgspec.Struct, frozen=True, kw_only=True):
    duration_s: int
    runs: int
    connections: int
    write_connections: int
    list_connections: int
    warmup_s: int
    floor_s: int
    min_load_s: int
    staleness_changes: int  # (h): changes of each kind
    quick: bool
    servers: list[str]
    workers: list[int]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    started_at: datetime
    finished_at: datetime
    seconds: float
    command: str
    options: Options
    machine: Machine
    seed: SeedInfo
    health: HttpLoad  # (a)
    prompt: HttpLoad  # (b)
    prompt_many: HttpLoad  # (b2): the live prompts of `seed.live_agents` agents in turn
    prompt_cache_off: CacheOff  # (b3)
    database_floor: DatabaseFloor  # (c)
    writes: WriteLoad  # (d)
    list_shallow: HttpLoad  # (e), the agent with few versions
    list_deep: HttpLoad  # (e), the agent with many versions
    list_shallow_10: HttpLoad  # (e), page 1 with ?limit=10: both pages hold 10 versions
    list_deep_10: HttpLoad
    compile: CompileTiming  # (f)
    memory: MemoryReading  # (g)
    staleness: StalenessPhase  # (h)
    serve_log: str  # file name in bench/results/
    serve_help: str  # `org-agents serve --help` as run: its options and defaults
    comparison: list[Comparison]
    comparison_note: str | None
    notes: list[str]
