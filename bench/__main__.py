"""`python -m bench`: seeds a fresh database, runs `org-agents serve`, measures it, prints a Markdown summary."""

import argparse
import gzip
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec
import psycopg

from adapters.embedded_postgres import EmbeddedPostgresError
from adapters.postgres.migrations import MigrationError
from application.live_cache import DEFAULT_MAX_WATCHERS
from bench.measure import LIST_CONNECTIONS, RESULTS, Bench, BenchFailed, Load, Options
from bench.report import Comparison, Results, WatchResults, machine, render
from bench.seed import bench_database, large_blueprint, seed, time_compiles
from bench.staleness import staleness
from bench.watch import watching
from bench.wrk import WRK, Env, WrkFailed
from entrypoints.http.examples import shop_buddy
from tests.serving import ServeFailed

R = TypeVar("R", Results, WatchResults)
FAILURES = (BenchFailed, WrkFailed, ServeFailed, EmbeddedPostgresError, MigrationError, psycopg.Error, httpx.HTTPError)


def options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark org-agents (bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, 1 run, 5 changes, no comparison")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10)")
    parser.add_argument("--runs", type=int, help="runs per measurement; the median is reported (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="for (a) and (b)…(b4) (default 64)")
    parser.add_argument("--servers", default="uvicorn,granian", help="serve --server values to compare")
    parser.add_argument("--workers", default="1,2", help="serve --workers values to compare")
    parser.add_argument("--watchers", type=int, help="(i): watches over two instances (default 1,000)")
    parser.add_argument("--idle-watchers", type=int, help="(j): idle watches per worker (default 10,000)")
    parser.add_argument("--watch-only", action="store_true", help="seed, then (i) and (j) only")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    return Options(
        duration_s=args.duration or (2 if quick else 10),
        runs=args.runs or (1 if quick else 3),
        warmup_s=1 if quick else 2,
        connections=args.connections,
        changes=5 if quick else 50,
        servers=[] if quick else args.servers.split(","),
        workers=[] if quick else [int(n) for n in args.workers.split(",")],
        watchers=args.watchers or (100 if quick else 1_000),
        idle_watchers=args.idle_watchers or (1_000 if quick else DEFAULT_MAX_WATCHERS),
        watch_only=args.watch_only,
    )


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    if not Path(WRK).exists():
        print(f"bench: {WRK} not found: `apt-get install wrk`", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))  # unwinds: serves and PostgreSQL stop
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        results = run(options(argv), stamp, " ".join(["uv run python -m bench", *map(shlex.quote, argv)]))
    except KeyboardInterrupt:
        return 130
    except FAILURES as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        for log in RESULTS.glob(f"{stamp}-*.log"):  # one access-log line per request: they grow large
            with log.open("rb") as source, gzip.open(f"{log}.gz", "wb", compresslevel=1) as target:
                shutil.copyfileobj(source, target, 1 << 20)
            log.unlink()
    print(render(results), flush=True)
    failures = [*(results.writes.failures() if isinstance(results, Results) else []), *results.watching.failures()]
    if failures:
        print(f"bench: correctness violated ({len(failures)} finding(s)): {'; '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def run(o: Options, stamp: str, command: str) -> Results | WatchResults:
    started_at = datetime.now(UTC)
    RESULTS.mkdir(exist_ok=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="org-agents-bench-")))
        if os.geteuid() == 0:
            tmp.chmod(0o711)  # the embedded server runs as its own user under root, and must pass (never read) here
        conninfo, kind = stack.enter_context(bench_database(tmp))
        bench = Bench(o, conninfo, tmp, stamp)
        with psycopg.connect(conninfo) as conn:
            about = machine(str((conn.execute("SHOW server_version").fetchone() or ["?"])[0]), kind)
        bench.progress("seeding")
        s = seed(conninfo, tmp / "seed")
        reader, prompt = {"Authorization": f"Bearer {s.reader_token}"}, f"/org-agents/{s.hot}/prompt"
        if o.watch_only:
            bench.progress(f"seeded {s.agents:,} agents in {s.seconds} s")
            watched = watching(bench, s, prompt, reader)
            return _written(stamp, bench, WatchResults(
                started_at=started_at, seconds=_since(started_at), command=command, options=o, machine=about,
                seed=s.info(), watching=watched,
            ))  # fmt: skip
        bench.progress(f"seeded {s.agents:,} agents in {s.seconds} s; (f) compiling a large blueprint")
        compiled = time_compiles(large_blueprint())
        (body := tmp / "version.json").write_bytes(msgspec.json.encode({"agent_blueprint": shop_buddy()}))
        (paths := tmp / "live-prompts.txt").write_text(
            "".join(f"/org-agents/{a}/prompt {t}\n" for a, t in s.live_agents)
        )

        with bench.serve("default") as a:
            health = bench.load(a, "(a)", "/health")
            hot = bench.load(a, "(b)", prompt, headers=reader)
            many = bench.load(a, "(b2)", prompt, env={"BENCH_PATHS_FILE": str(paths)})
            floor = bench.floor(s.org_id, s.hot)
            lists = [bench.load(a, f"(e) {n} versions{q}", f"/org-agents/{i}/blueprints{q}", LIST_CONNECTIONS, reader)
                     for q in ("", "?limit=10") for n, i in (("10", s.shallow), ("10,000", s.deep))]  # fmt: skip
            writes = bench.writes(a, s.writer, reader, body)
            memory = bench.memory(a, prompt, reader)
            stale = staleness(bench, a, s.hot, s.owner_token, s.reader_token)
        cache_off = _route_only(bench, "(b3)", "cache-off", {"ORG_AGENTS_LIVE_CACHE_MB": "0"}, prompt, reader)
        hot_path_off = _route_only(bench, "(b4)", "hot-path-off", {"ORG_AGENTS_HOT_PATH": "0"}, prompt, reader)
        watched = watching(bench, s, prompt, reader)
        comparison = [_compare(bench, server, n, prompt, reader) for server in o.servers for n in o.workers]

    return _written(stamp, bench, Results(
        started_at=started_at, seconds=_since(started_at), command=command, options=o, machine=about, seed=s.info(),
        health=health, prompt=hot, many=many, cache_off=cache_off, hot_path_off=hot_path_off, floor=floor,
        writes=writes, lists=lists, compile=compiled, memory=memory, staleness=stale, watching=watched,
        comparison=comparison,
    ))  # fmt: skip


def _since(started_at: datetime) -> float:
    return round((datetime.now(UTC) - started_at).total_seconds(), 1)


def _written(stamp: str, bench: Bench, results: R) -> R:
    (path := RESULTS / f"{stamp}.json").write_bytes(msgspec.json.format(msgspec.json.encode(results)) + b"\n")
    bench.progress(f"results: {path}")
    return results


def _route_only(bench: Bench, name: str, log: str, env: dict[str, str], prompt: str, reader: Env) -> Load:
    """(b)'s load on a serve of its own, identical but for `env`; its log must show Litestar's route answered."""
    with bench.serve(log, env=env) as served:
        load = bench.load(served, name, prompt, headers=reader)
    bench.check_routes(served, name)
    return load


def _compare(bench: Bench, server: str, workers: int, prompt: str, reader: Env) -> Comparison:
    """(a) and (b) on `serve --server X --workers N`; a configuration that fails is reported, not fatal."""
    try:
        with bench.serve(f"{server}-w{workers}", ["--server", server, "--workers", str(workers)]) as served:
            health = bench.load(served, f"[{server} x{workers}] (a)", "/health")
            hot = bench.load(served, f"[{server} x{workers}] (b)", prompt, headers=reader)
            mb = bench.memory(served).worker_mb
        return Comparison(server=server, workers=workers, health=health, prompt=hot, worker_mb=mb)
    except (ServeFailed, BenchFailed, WrkFailed) as exc:
        bench.progress(f"{server} x{workers} failed: {exc}")
        return Comparison(server=server, workers=workers, error=str(exc))


if __name__ == "__main__":
    sys.exit(main())
