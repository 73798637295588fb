"""What a run recorded (`Results`, written to bench/results/ as JSON) and its Markdown summary, for BENCHMARKS.md."""

import importlib.metadata
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import psutil

from bench.measure import Load, Memory, Options, Writes, median
from bench.seed import Compile
from bench.staleness import Staleness
from bench.watch import FIRST_WAIT_S, Watching
from bench.wrk import WRK
from entrypoints.cli import DEFAULT_SERVER, DEFAULT_WORKERS

PACKAGES: Final = ("litestar", "uvicorn", "granian", "msgspec", "psycopg", "psycopg-pool")
NONE: Final = "—"


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    server: str
    workers: int
    health: Load | None = None
    prompt: Load | None = None
    worker_mb: float | None = None
    error: str | None = None


class Results(msgspec.Struct, frozen=True, kw_only=True):
    started_at: datetime
    seconds: float
    command: str
    options: Options
    machine: dict[str, str]
    seed: dict[str, Any]
    health: Load  # (a)
    prompt: Load  # (b)
    many: Load  # (b2)
    cache_off: Load  # (b3)
    hot_path_off: Load  # (b4)
    floor: list[float]  # (c), queries/s per run
    writes: Writes  # (d)
    lists: list[Load]  # (e): 10 and 10,000 versions, then both with ?limit=10
    compile: Compile  # (f)
    memory: Memory  # (g)
    staleness: Staleness  # (h)
    watching: Watching  # (i), (j)
    comparison: list[Comparison]


class WatchResults(msgspec.Struct, frozen=True, kw_only=True):
    """`--watch-only`: the seed, (i) and (j)."""

    started_at: datetime
    seconds: float
    command: str
    options: Options
    machine: dict[str, str]
    seed: dict[str, Any]
    watching: Watching


def machine(postgres: str, database: str) -> dict[str, str]:
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    wrk = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    packages = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PACKAGES)
    dirty = " with uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return {
        "machine": f"{cpu[1] if cpu else platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM; {platform.freedesktop_os_release()['PRETTY_NAME']}, "
        f"Linux {platform.release()}",
        "software": f"Python {platform.python_version()}, PostgreSQL {postgres} ({database}), "
        f"{wrk.stdout.split(' Copyright')[0]}; {packages}",
        "code": _git("rev-parse", "--short=12", "HEAD") + dirty,
    }


def _git(*args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [shutil.which("git") or "/usr/bin/git", "-C", str(Path(__file__).parent.parent), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def rate(value: float) -> str:
    return f"{value:,.0f}"


def ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def cells(label: str, value: str, raw: str, target: str = NONE, ok: bool | None = None) -> list[str]:
    return [label, value, raw, target, NONE if ok is None else "yes" if ok else "**no**"]


def runs(
    label: str, values: Sequence[float], target: str = NONE, ok: Callable[[float], bool] | None = None
) -> list[str]:
    """The median, and the raw runs in order."""
    value = median(values)
    return cells(label, rate(value), " / ".join(map(rate, values)), target, ok(value) if ok else None)


def ratio(label: str, top: Sequence[float], bottom: Sequence[float], target: str = NONE,
          ok: Callable[[float], bool] | None = None) -> list[str]:  # fmt: skip
    """The ratio of the medians; the raw runs are run i over run i."""
    value, raw = median(top) / median(bottom), [t / b for t, b in zip(top, bottom, strict=True)]
    return cells(label, f"{value:.2f}", " / ".join(f"{r:.2f}" for r in raw), target, ok(value) if ok else None)


def loads(label: str, load: Load, p99_max: float | None = None) -> list[list[str]]:
    p50, p99 = [r.p50_us / 1000 for r in load.runs], [r.p99_us / 1000 for r in load.runs]
    latencies = ", ".join(f"{ms(a)}/{ms(b)}" for a, b in zip(p50, p99, strict=True))
    target, ok = (f"p99 ≤ {p99_max:.0f} ms", median(p99) <= p99_max) if p99_max else (NONE, None)
    medians = f"{ms(median(p50))} / {ms(median(p99))}"
    return [runs(f"{label} ({load.connections} conn.): req/s", load.per_s),
            cells(f"{label}: p50 / p99 ms", medians, latencies, target, ok)]  # fmt: skip


def _rows(r: Results) -> list[list[str]]:
    a, b, w, c, m = r.health.per_s, r.prompt.per_s, r.writes, r.compile, r.memory
    written = [run.created / run.wrk.seconds for run in w.runs]
    counts = " / ".join(f"{run.after.count:,}; {run.unacknowledged}" for run in w.runs)
    correct, compiled, kib, mb = (
        not w.failures(),
        f"p95 {ms(c.p95_ms)}",
        c.document_bytes / 1024,
        f"{m.worker_mb:.0f} MB",
    )
    rss = ", ".join(f"{'worker' if p.worker else 'parent'} {p.rss_mb:.0f} MB" for p in m.processes)
    rows = [
        *loads("(a) `GET /health`", r.health),
        *loads("(b) `GET /org-agents/{id}/prompt`", r.prompt, p99_max=15),
        ratio("(b)/(a) req/s", b, a, "≥ 0.6", lambda v: v >= 0.6),
        *loads(f"(b2) {r.seed['live_agents']:,} agents in turn", r.many),
        ratio("(b2)/(b) req/s", r.many.per_s, b),
        *loads("(b3) live cache off", r.cache_off),
        ratio("(b3)/(a) req/s", r.cache_off.per_s, a),
        ratio("(b)/(b3) req/s: what the live cache gains", b, r.cache_off.per_s),
        *loads("(b4) cache on, hot path off", r.hot_path_off),
        ratio("(b)/(b4) req/s: what the hot path gains", b, r.hot_path_off.per_s, "≥ 1.3", lambda v: v >= 1.3),
        runs("(c) the hot path's SELECT, one connection: queries/s", r.floor),
        runs(f"(d) {w.connections} writers, one agent: versions/s", written, "≥ 500", lambda v: v >= 500),
        cells(
            "(d) gapless, no write lost, no error (N; unacknowledged)",
            "yes" if correct else "no",
            counts,
            "yes",
            correct,
        ),
    ]
    for query, (few, many) in (("", r.lists[:2]), ("?limit=10", r.lists[2:])):
        deep, shallow = ([run.p50_us for run in load.runs] for load in (many, few))
        rows += [
            *loads(f"(e) `GET …/blueprints{query}`, 10 versions", few),
            *loads(f"(e) `GET …/blueprints{query}`, 10,000 versions", many),
            ratio(f"(e){query} p50, deep / shallow", deep, shallow, "≤ 1.5", lambda v: v <= 1.5),
            ratio(f"(e){query} req/s, deep / shallow", many.per_s, few.per_s),
        ]
    rows += [
        cells(f"(f) compile {kib:.0f} KiB, ms", ms(c.median_ms), compiled, "≤ 20 ms", c.median_ms <= 20),
        cells(f"(g) memory per worker after {m.load_s:.0f} s of load", mb, rss, "≤ 150 MB", m.worker_mb <= 150),
    ]
    for s in r.staleness.series:
        raw = f"p95 {ms(s.p95_ms)}, max {ms(max(s.samples_ms))}, polls ≤ {max(s.polls)}"
        label = f"(h) staleness, {s.change}, served by {s.observer} ({len(s.samples_ms)} changes): median ms"
        rows.append(cells(label, ms(median(s.samples_ms)), raw, "max ≤ 100 ms", max(s.samples_ms) <= 100))
    return rows


def _watch_rows(w: Watching) -> list[list[str]]:
    f, j = w.fan_out, w.idle
    lows, p50s, p99s, tops = (list(column) for column in zip(*(r.summary() for r in f.rounds), strict=True))
    on = [[max(ms, default=math.nan) for ms in r.samples_ms] for r in f.rounds]  # per round, max per instance
    got = [len(r.all_ms) for r in f.rounds]
    complete = bool(f.rounds) and not f.failures()
    instances = f"{len(f.workers)} instances of {' and '.join(map(str, sorted(set(f.workers))))} workers"
    total = j.watchers * j.workers
    without = median(j.per_s_without)
    others = "".join(f", {n:,} {what}" for what, n in j.end.other.items())
    all_held = j.armed.waiting == total and j.end.at_once == 0 and not j.end.other
    return [
        cells(f"(i) a move reaches {f.watchers:,} watches on {instances}: min / p50 / p99 / max ms",
              " / ".join(ms(median(column)) for column in (lows, p50s, p99s, tops)),
              ", ".join("/".join(map(ms, each)) for each in zip(lows, p50s, p99s, tops, strict=True)),
              "max ≤ 100 ms", bool(tops) and max(tops) <= 100),
        cells("(i) its slowest watch on A (the PUT's instance) / on B, ms",
              f"{ms(median([a for a, _ in on]))} / {ms(median([b for _, b in on]))}",
              ", ".join(f"{ms(a)}/{ms(b)}" for a, b in on)),
        cells("(i) the move itself: `PUT …/labels/staging` on A, ms", ms(median([r.put_ms for r in f.rounds])),
              " / ".join(ms(r.put_ms) for r in f.rounds)),
        cells(f"(i) every watch got the new version (of {f.watchers:,}, per round)", "yes" if complete else "no",
              " / ".join(f"{n:,}" for n in got), "yes", complete),
        *loads("(j) hot path, no watches", j.before),
        *loads(f"(j) hot path, {total:,} idle watches", j.held),
        *loads("(j) hot path, no watches again", j.after),
        cells(f"(j) req/s with {total:,} idle watches / without", f"{median(j.held.per_s) / without:.2f}",
              " / ".join(f"{v / without:.2f}" for v in j.held.per_s), "≥ 0.9", j.ratio() >= 0.9),
        cells(f"(j) idle watches held, of {total:,}", f"{j.armed.waiting:,}",
              f"during the load {j.end.timed_out:,} answered 304 at their timeout and sent again, "
              f"{j.end.at_once:,} answered at once{others}; connections per worker "
              f"{' / '.join(f'{n:,}' for n in j.connections)}; the last closed by its client answered by serve "
              f"{j.orphans_s:.0f} s later", f"{total:,}", all_held),
        cells("(j) memory per worker, watches held", f"{max(j.worker_mb):.0f} MB",
              f"workers {', '.join(f'{mb:.0f}' for mb in j.worker_mb)} MB; without watches "
              f"{', '.join(f'{mb:.0f}' for mb in j.worker_mb_before)} MB"),
    ]  # fmt: skip


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = [header, ["---"] * len(header), *rows]
    return ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]


def _compared(item: Comparison) -> list[str]:
    if item.health is None or item.prompt is None:
        return [item.server, str(item.workers), *[NONE] * 5, f"failed: {(item.error or '?').splitlines()[0][:120]}"]
    a, b, p99 = median(item.health.per_s), median(item.prompt.per_s), [run.p99_us / 1000 for run in item.prompt.runs]
    mb = f"{item.worker_mb:.0f}" if item.worker_mb else NONE
    return [item.server, str(item.workers), rate(a), rate(b), ms(median(p99)), f"{b / a:.2f}", mb, NONE]


def render(r: Results | WatchResults) -> str:
    m, o, seed, f = r.machine, r.options, r.seed, r.watching.fan_out
    rows = [*_rows(r), *_watch_rows(r.watching)] if isinstance(r, Results) else _watch_rows(r.watching)
    lines = [
        f"## Benchmark, {r.started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Machine: {m['machine']}",
        f"- Software: {m['software']}",
        f"- Code: {m['code']}; serve as it runs by default: {DEFAULT_SERVER}, {DEFAULT_WORKERS} worker(s)",
        f"- Command: `{r.command}` ({r.seconds / 60:.1f} min in all; seeding {seed['seconds']} s)",
        f"- Data: {seed['organizations']} organizations, {seed['agents']:,} agents, {seed['live_agents']:,} live",
        f"- Load: `wrk -t2 -c<conn.> -d{o.duration_s}s -s bench/lua/bench.lua` after {o.warmup_s} s of warm-up; "
        f"median of {o.runs} run(s), raw runs in order",
        "",
        *_table(["Measurement", "Median", "Raw runs", "Target", "Met?"], rows),
        "",
    ]
    if isinstance(r, Results):
        h = r.staleness
        lines += [
            f"(h): A {h.a_workers} worker(s), B {h.b_workers}, {h.listeners} change feeds. B's log: {h.b_before[1]} "
            f"of {h.b_before[0]} answers just before a change came from its cache, {h.b_seen[0] - h.b_seen[1]} of "
            f"{h.b_seen[0]} first answers with the change from the database.",
            "",
        ]
    spread = "; ".join(" / ".join(f"{n:,}" for n in workers) for workers in f.connections)
    lines.append(
        f"(i): {len(f.rounds)} move(s), back and forth; the watches' connections per worker, A then B: {spread}. "
        f"(j): the watches opened at {r.watching.idle.opened_per_s:,}/s, first waits spread over "
        f"{FIRST_WAIT_S[0]} to {FIRST_WAIT_S[1]} s; "
        f"RLIMIT_NOFILE {r.watching.idle.open_files:,} for the bench and serve."
    )
    if isinstance(r, Results) and r.comparison:
        header = ["Server", "Workers", "(a) req/s", "(b) req/s", "(b) p99 ms", "(b)/(a)", "MB/worker", "Note"]
        lines += ["", "### Server and workers", "", *_table(header, [_compared(item) for item in r.comparison])]
    return "\n".join([*lines, ""])
