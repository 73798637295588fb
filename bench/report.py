"""The Markdown summary printed to stdout (for BENCHMARKS.md); the JSON in bench/results/ has everything else."""

import math
from collections.abc import Callable, Sequence
from typing import Final

from bench.model import Comparison, HttpLoad, Report, Runs, Staleness, StalenessPhase, ratio_of
from bench.server import option_default

PROMPT_RATIO_MIN: Final = 0.6
PROMPT_P99_MAX_MS: Final = 15.0
WRITES_MIN_PER_S: Final = 500.0
DEPTH_P50_RATIO_MAX: Final = 1.5
COMPILE_MAX_MS: Final = 20.0
WORKER_RSS_MAX_MB: Final = 150.0
STALENESS_MAX_MS: Final = 100.0

NONE: Final = "—"


def rate(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "n/a"


def ms(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"


def ratio(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def raw(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return " / ".join(fmt(v).removesuffix(" ms") for v in values)


def latency_pair(load: HttpLoad) -> tuple[str, str]:
    median = f"{ms(load.p50_ms.median).removesuffix(' ms')} / {ms(load.p99_ms.median)}"
    runs = ", ".join(
        f"{ms(p50).removesuffix(' ms')}/{ms(p99).removesuffix(' ms')}"
        for p50, p99 in zip(load.p50_ms.raw, load.p99_ms.raw, strict=True)
    )
    return median, runs


def staleness_rows(series: Sequence[Staleness]) -> list[tuple[str, str, str, str, str]]:
    """(h): one row per way of changing and instance polled; the first one's name says what (h) measures."""
    rows = []
    for n, one in enumerate(series):
        what = "(h) staleness: a change on one instance served by another" if n == 0 else "(h) staleness"
        rows.append((
            f"{what}: {one.change}, served by {one.observer} ({len(one.samples_ms)} changes): median",
            ms(one.median_ms),
            f"p95 {ms(one.p95_ms)}, max {ms(one.max_ms)}; polls up to {max(one.polls)}",
            f"≤ {STALENESS_MAX_MS:.0f} ms (max)",
            met(one.max_ms <= STALENESS_MAX_MS),
        ))  # fmt: skip
    return rows


def staleness_summary(phase: StalenessPhase) -> str:
    """What (h) ran against, and whether B's cache was in play: its access log says which requests it answered from
    memory (just before a change it should, with the old version; the first with the change it should not)."""
    seen_missed = phase.b_seen_logged - phase.b_seen_from_memory
    most_polls = max((max(one.polls) for one in phase.series), default=0)
    first_had_it = " (the first after t0 already had it: the staleness measured is that request's time)"
    return (
        f"Staleness (h): {phase.changes} changes of each kind; A ({phase.a_workers} worker(s)) and B "
        f"({phase.b_workers} worker(s)), {phase.listeners} change feeds listening; the second version was "
        f"{'compiled for the phase' if phase.created_version else 'already compiled'}, the first is live again "
        f"afterwards. B's access log: {phase.b_before_from_memory} of {phase.b_before_logged} answers just before "
        f"a change came from its cache; {seen_missed} of {phase.b_seen_logged} first answers with the change were "
        "read from the database (the notice had emptied the cache). Requests until a connection saw a change: at "
        f"most {most_polls}{first_had_it if most_polls == 1 else ''}."
    )


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _depth_rows(
    query: str, label: str, few: str, many: str, shallow: HttpLoad, deep: HttpLoad
) -> list[tuple[str, str, str, str, str]]:
    """(e) for one page size: each agent's rate and latencies, and the deep/shallow ratios (p50 has the target)."""
    depth_p50 = ratio_of(deep.p50_ms, shallow.p50_ms)
    depth_rate = ratio_of(deep.requests_per_s, shallow.requests_per_s)
    prefix = f"(e) {label}, " if label else "(e) "
    ratio_label = f"(e) {label} (equal payloads): " if label else "(e) "
    rate_label = f"(e) {label}: " if label else "(e) "
    rows = []
    for agent, load in ((few, shallow), (many, deep)):
        rows += [
            (f"(e) `GET …/blueprints{query}` page 1, {agent} agent ({load.connections} conn.): req/s",
             rate(load.requests_per_s.median), raw(load.requests_per_s.raw, rate), NONE, NONE),
            (f"{prefix}{agent} agent: latency p50 / p99", *latency_pair(load), NONE, NONE),
        ]  # fmt: skip
    return [
        *rows,
        (f"{ratio_label}p50 latency, deep / shallow", ratio(depth_p50.median), raw(depth_p50.raw, ratio),
         f"≤ {DEPTH_P50_RATIO_MAX}", met(depth_p50.median <= DEPTH_P50_RATIO_MAX)),
        (f"{rate_label}req/s, deep / shallow", ratio(depth_rate.median), raw(depth_rate.raw, ratio), NONE, NONE),
    ]  # fmt: skip


def _rows(report: Report) -> list[str]:
    health, prompt, writes = report.health, report.prompt, report.writes
    shallow, deep = report.list_shallow, report.list_deep
    shallow_10, deep_10 = report.list_shallow_10, report.list_deep_10
    few, many = f"{report.seed.shallow_versions}-version", f"{report.seed.deep_versions:,}-version"
    prompt_ratio = ratio_of(prompt.requests_per_s, health.requests_per_s)
    floor = report.database_floor.queries_per_s
    compile_ = report.compile
    memory = report.memory
    worker_mb = memory.max_worker_mb
    c_a, c_b, c_d = health.connections, prompt.connections, writes.connections
    unacked = [r.unacknowledged for r in writes.runs]
    counts = [r.after.count for r in writes.runs]
    rows = [
        (f"(a) `GET /health` ({c_a} conn.): req/s", rate(health.requests_per_s.median),
         raw(health.requests_per_s.raw, rate), NONE, NONE),
        ("(a) `GET /health`: latency p50 / p99", *latency_pair(health), NONE, NONE),
        (f"(b) `GET /org-agents/{{id}}/prompt` ({c_b} conn.): req/s", rate(prompt.requests_per_s.median),
         raw(prompt.requests_per_s.raw, rate), NONE, NONE),
        ("(b) `GET …/prompt`: latency p50 / p99", *latency_pair(prompt), f"p99 ≤ {PROMPT_P99_MAX_MS:.0f} ms",
         met(prompt.p99_ms.median <= PROMPT_P99_MAX_MS)),
        ("(b)/(a) req/s", ratio(prompt_ratio.median), raw(prompt_ratio.raw, ratio), f"≥ {PROMPT_RATIO_MIN}",
         met(prompt_ratio.median >= PROMPT_RATIO_MIN)),
        *_growth_rows(report),
        ("(c) database floor: the hot path's SELECT, one connection, queries/s", rate(floor.median),
         raw(floor.raw, rate), NONE, NONE),
        (f"(d) `POST /org-agents/{{id}}/blueprints`, {c_d} writers, one agent: versions/s",
         rate(writes.versions_per_s.median), raw(writes.versions_per_s.raw, rate), f"≥ {WRITES_MIN_PER_S:.0f}",
         met(writes.versions_per_s.median >= WRITES_MIN_PER_S)),
        ("(d) errors (non-201 + socket errors)", str(writes.errors), " / ".join(str(r.errors) for r in writes.runs),
         "0", met(writes.errors == 0)),
        ("(d) versions gapless 1..N, every 201 stored (N after each run; committed-unacknowledged)",
         "yes" if writes.gapless and writes.acknowledged_kept else "no",
         " / ".join(f"{n:,}; {u}" for n, u in zip(counts, unacked, strict=True)), "yes",
         met(writes.gapless and writes.acknowledged_kept)),
        *_depth_rows("", "", few, many, shallow, deep),
        *_depth_rows("?limit=10", "limit=10", few, many, shallow_10, deep_10),
        (f"(f) compile a {compile_.document_bytes / 1024:.0f} KiB blueprint in process ({compile_.compiles} times)",
         ms(compile_.median_ms), f"p95 {ms(compile_.p95_ms)}", f"≤ {COMPILE_MAX_MS:.0f} ms",
         met(compile_.median_ms <= COMPILE_MAX_MS)),
        (f"(g) resident memory per worker after {memory.load_s:.0f} s of load", f"{worker_mb:.0f} MB",
         ", ".join(f"{'worker' if p.worker else 'parent'} {p.rss_mb:.0f} MB" for p in memory.processes),
         f"≤ {WORKER_RSS_MAX_MB:.0f} MB", met(worker_mb <= WORKER_RSS_MAX_MB)),
        *staleness_rows(report.staleness.series),
    ]  # fmt: skip
    return [_row(*cells) for cells in rows]


def _growth_rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    """(b2) and (b3): how the hot path's cost grows with the agents it serves, and what it costs without its cache.
    Informational: no targets."""
    health, prompt, many = report.health, report.prompt, report.prompt_many
    off = report.prompt_cache_off.prompt
    agents = f"{report.seed.live_agents:,}"
    many_ratio = ratio_of(many.requests_per_s, prompt.requests_per_s)
    off_ratio = ratio_of(off.requests_per_s, health.requests_per_s)
    gain = ratio_of(prompt.requests_per_s, off.requests_per_s)
    return [
        (f"(b2) `GET …/prompt` of {agents} agents in turn ({many.connections} conn.): req/s",
         rate(many.requests_per_s.median), raw(many.requests_per_s.raw, rate), NONE, NONE),
        (f"(b2) {agents} agents: latency p50 / p99", *latency_pair(many), NONE, NONE),
        (f"(b2)/(b) req/s ({agents} live prompts cached per worker, not 1)", ratio(many_ratio.median),
         raw(many_ratio.raw, ratio), NONE, NONE),
        (f"(b3) `GET …/prompt`, live cache off (`ORG_AGENTS_LIVE_CACHE_MB=0`, own serve; {off.connections} conn.): "
         "req/s", rate(off.requests_per_s.median), raw(off.requests_per_s.raw, rate), NONE, NONE),
        ("(b3) cache off: latency p50 / p99", *latency_pair(off), NONE, NONE),
        ("(b3)/(a) req/s", ratio(off_ratio.median), raw(off_ratio.raw, ratio), NONE, NONE),
        ("(b)/(b3) req/s: what the live cache gains", ratio(gain.median), raw(gain.raw, ratio), NONE, NONE),
    ]  # fmt: skip


def _comparison_rows(comparison: list[Comparison]) -> list[str]:
    rows = []
    for item in comparison:
        server = item.config.server or "default"
        workers = str(item.config.workers) if item.config.workers is not None else "default"
        if item.error or item.health is None or item.prompt is None:
            first_line = (item.error or "no result").strip().splitlines()[0][:120]
            rows.append(_row(server, workers, NONE, NONE, NONE, NONE, NONE, f"failed: {first_line}"))
            continue
        both = ratio_of(item.prompt.requests_per_s, item.health.requests_per_s)
        worker_mb = item.memory.max_worker_mb if item.memory else float("nan")
        rows.append(
            _row(
                server,
                workers,
                rate(item.health.requests_per_s.median),
                rate(item.prompt.requests_per_s.median),
                ms(item.prompt.p99_ms.median),
                ratio(both.median),
                f"{worker_mb:.0f} MB" if math.isfinite(worker_mb) else "n/a",
                NONE,
            )
        )
    return rows


def _median_note(runs: Runs) -> str:
    return f"{len(runs.raw)} run" + ("s" if len(runs.raw) != 1 else "")


def _serve_defaults(help_text: str) -> str:
    server, workers = option_default(help_text, "--server"), option_default(help_text, "--workers")
    if server is None and workers is None:
        return "`org-agents serve` (no --server or --workers option)"
    return f"server {server or 'unknown'}, {workers or 'unknown'} worker(s) (per `org-agents serve --help`)"


def render(report: Report) -> str:
    m, o, s = report.machine, report.options, report.seed
    commit = m.commit or "unknown commit"
    if m.uncommitted_changes:
        commit += " with uncommitted changes"
    packages = ", ".join(f"{name} {version}" for name, version in m.packages.items())
    lines = [
        f"## Benchmark, {report.started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {m.cpu_model}, {m.cores} cores, {m.ram_gib:.1f} GiB RAM; {m.os}, Linux {m.kernel}",
        f"- Software: Python {m.python}, PostgreSQL {m.postgres} ({m.database}), {m.wrk.split(' Copyright')[0]}; "
        f"{packages}",
        f"- Code: {commit}; serve as it runs by default: {_serve_defaults(report.serve_help)}",
        f"- Command: `{report.command}` ({report.seconds / 60:.1f} min in all; seeding {s.seconds:.1f} s)",
        f"- Data: {s.organizations} organizations, {s.agents:,} agents; the hot agent has one compiled, active "
        f"version of tests/examples/shop-buddy.json (until (h) adds a second), as have {s.live_agents - 1:,} others "
        f"(for (b2)); list agents with "
        f"{s.shallow_versions} and {s.deep_versions:,} versions; VACUUM (ANALYZE) and CHECKPOINT after seeding",
        f"- Load: `wrk -t2 -c<conn.> -d{o.duration_s}s --latency` on the same machine as serve and PostgreSQL (they "
        f"share its cores); {o.warmup_s} s of untimed warm-up per endpoint; each value is the median of "
        f"{_median_note(report.health.requests_per_s)} (raw runs in order); latencies are wrk's, in ms",
        "",
        _row("Measurement", "Median", "Raw runs", "Target", "Met?"),
        _row("---", "---:", "---", "---", "---"),
        *_rows(report),
        "",
    ]
    lines += [staleness_summary(report.staleness), ""]
    if report.comparison:
        lines += [
            "### Server and workers",
            "",
            "(a) and (b) as above, per `org-agents serve --server X --workers N`; RSS is the largest worker's after "
            "its runs.",
            "",
            _row("Server", "Workers", "(a) req/s", "(b) req/s", "(b) p99", "(b)/(a)", "RSS/worker", "Note"),
            _row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---"),
            *_comparison_rows(report.comparison),
            "",
        ]
    if report.comparison_note:
        lines += [f"Server comparison: {report.comparison_note}", ""]
    if report.notes:
        lines += ["Notes:", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(lines)
