"""`python -m bench`: seeds a fresh database, runs `org-agents serve`, measures it, prints a Markdown summary."""

import argparse
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Final, NoReturn

import msgspec
import psycopg

from adapters.embedded_postgres import EmbeddedPostgresError
from adapters.postgres.migrations import MigrationError
from bench import compile as compile_phase
from bench.cache_off import cache_off_phase
from bench.database import BenchDatabaseError, bench_database, server_version
from bench.machine import describe
from bench.model import Comparison, MemoryReading, Options, Report, ServerConfig
from bench.phases import Bench, BenchFailed, check_writes
from bench.report import render
from bench.seed import Seeded, SeedError, seed, shop_buddy
from bench.server import ServerFailed, running_serve, serve_executable, serve_help, serve_options
from bench.staleness import A_CONNECTIONS as STALENESS_A_CONNECTIONS
from bench.staleness import FAIL_AFTER_S as STALENESS_FAIL_AFTER_S
from bench.staleness import staleness_phase
from bench.wrk import INSTALL_HINT, Wrk, WrkFailed, WrkParseError

RESULTS: Final = Path(__file__).parent / "results"
WRITE_CONNECTIONS: Final = 32  # all on one agent: the worst case, every writer queues on its row lock
LIST_CONNECTIONS: Final = 16  # enough to keep serve busy without measuring mostly queueing
MIN_LOAD_S: Final = 60  # (g) reads memory after at least this much load
STALENESS_CHANGES: Final = 50  # (h): changes of each kind (5 with --quick)


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _workers(text: str) -> list[int]:
    try:
        counts = [int(item) for item in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of worker counts, not {text!r}") from None
    if any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError("worker counts are at least 1")
    return counts


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark org-agents: a fresh database, the real `org-agents serve`, wrk. Prints Markdown; "
        "writes every raw number to bench/results/<timestamp>.json.",
    )
    parser.add_argument("--duration", type=_positive, metavar="SECONDS", help="per wrk run (default 10)")
    parser.add_argument("--runs", type=_positive, help="runs per measurement; the median is reported (default 3)")
    parser.add_argument("--connections", type=_positive, default=64, help="wrk connections for (a), (b) (default 64)")
    parser.add_argument("--quick", action="store_true", help="smoke run: duration 2, runs 1, no server comparison")
    parser.add_argument(
        "--servers", type=_comma_list, default=["uvicorn", "granian"], help="serve --server values to compare"
    )
    parser.add_argument("--workers", type=_workers, default=[1, 2], help="serve --workers values to compare")
    args = parser.parse_args(argv)
    quick: bool = args.quick
    return Options(
        duration_s=args.duration or (2 if quick else 10),
        runs=args.runs or (1 if quick else 3),
        connections=args.connections,
        write_connections=WRITE_CONNECTIONS,
        list_connections=LIST_CONNECTIONS,
        warmup_s=1 if quick else 2,
        floor_s=2 if quick else 5,
        min_load_s=MIN_LOAD_S,
        staleness_changes=5 if quick else STALENESS_CHANGES,
        quick=quick,
        servers=[] if quick else args.servers,
        workers=[] if quick else args.workers,
    )


class Terminated(SystemExit):
    """SIGTERM: unwinds like Ctrl-C, so serve and PostgreSQL are stopped on the way out."""


def _terminate(signum: int, _: FrameType | None) -> NoReturn:
    raise Terminated(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(argv)
    wrk = Wrk.find()
    if wrk is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    executable = serve_executable()
    if not executable.exists():
        print(f"bench: {executable} not found; run the bench with `uv run python -m bench`", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    command = "uv run python -m bench" + (f" {shlex.join(argv)}" if argv else "")
    try:
        report = run(options, wrk, executable, command)
        print(render(report), flush=True)  # on failure too: the summary, then the verdict
        check_writes(report.writes)  # a lost, gapped or failed write fails the run (CI), not only its table row
    except KeyboardInterrupt:
        print("bench: interrupted; serve and PostgreSQL were stopped", file=sys.stderr)
        return 130
    except Terminated as exc:
        print("bench: terminated; serve and PostgreSQL were stopped", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    except (
        BenchFailed, ServerFailed, WrkFailed, WrkParseError, SeedError, BenchDatabaseError, EmbeddedPostgresError,
        MigrationError, compile_phase.InvalidBenchBlueprint, psycopg.Error,
    ) as exc:  # fmt: skip
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


def run(options: Options, wrk: Wrk, executable: Path, command: str) -> Report:
    bench = Bench(options, wrk)
    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL")

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="org-agents-bench-")))
        bench.progress("creating a database on DATABASE_URL's server" if database_url else "starting PostgreSQL")
        conninfo, kind = stack.enter_context(bench_database(tmp, database_url))
        machine = describe(server_version(conninfo), kind, wrk.version())

        bench.progress("seeding")
        seeded = seed(conninfo, tmp)
        bench.progress(f"seeded {seeded.info.agents:,} agents in {seeded.info.seconds:.1f} s")

        bench.progress("(f) compiling a large blueprint in process")
        timing = compile_phase.time_compiles(compile_phase.large_blueprint(shop_buddy()))
        bench.progress(f"(f) {timing.document_bytes / 1024:.0f} KiB: median {timing.median_ms:.2f} ms, "
                       f"p95 {timing.p95_ms:.2f} ms")  # fmt: skip

        body_file = tmp / "version.json"
        body_file.write_bytes(msgspec.json.encode({"agent_blueprint": shop_buddy()}))
        reader = {"Authorization": f"Bearer {seeded.reader_token}"}
        prompt_path = f"/org-agents/{seeded.hot_agent_id}/prompt"
        log_path = RESULTS / f"{stamp}-serve-default.log"
        help_text = serve_help(executable)

        bench.progress(f"starting org-agents serve (log: {log_path})")
        with running_serve(executable, conninfo, tmp / "serve", log_path, []) as serve:
            c = options.connections
            health = bench.http_load(serve, "(a) GET /health", "/health", connections=c)
            prompt = bench.http_load(serve, "(b) GET prompt", prompt_path, connections=c, headers=reader)
            many = bench.many_prompts(serve, f"(b2) GET prompt, {len(seeded.live_agents):,} agents in turn",
                                      seeded.live_agents, tmp / "live-prompts.txt")  # fmt: skip
            floor = bench.database_floor(conninfo, seeded.org_id, seeded.hot_agent_id)
            shallow_path = f"/org-agents/{seeded.shallow_agent_id}/blueprints"
            deep_path = f"/org-agents/{seeded.deep_agent_id}/blueprints"
            lists = options.list_connections
            shallow = bench.http_load(
                serve, "(e) GET blueprints, 10 versions", shallow_path, connections=lists, headers=reader
            )
            deep = bench.http_load(serve, "(e) GET blueprints, 10,000 versions", deep_path, connections=lists,
                                   headers=reader)  # fmt: skip
            shallow_10 = bench.http_load(serve, "(e) GET blueprints?limit=10, 10 versions", f"{shallow_path}?limit=10",
                                         connections=lists, headers=reader)  # fmt: skip
            deep_10 = bench.http_load(serve, "(e) GET blueprints?limit=10, 10,000 versions", f"{deep_path}?limit=10",
                                      connections=lists, headers=reader)  # fmt: skip
            writes = bench.write_load(serve, conninfo, seeded.writer_agent_id, reader, str(body_file))
            memory = bench.memory_after_load(serve, prompt_path, reader)
            b_args = ["--workers", "1"] if "--workers" in serve_options(help_text) else []
            staleness = staleness_phase(
                bench, serve, executable, conninfo, tmp / "serve-b", RESULTS / f"{stamp}-serve-staleness-b.log",
                b_args, seeded.hot_agent_id, seeded.owner_token, seeded.reader_token,
            )  # fmt: skip
        serve_log = serve.log_path
        bench.progress(f"serve stopped; its log: {serve_log}")

        cache_off = cache_off_phase(
            bench, executable, conninfo, tmp / "serve-cache-off", RESULTS / f"{stamp}-serve-cache-off.log", [],
            prompt_path, reader,
        )  # fmt: skip

        comparison, note = _compare(bench, options, executable, conninfo, tmp, stamp, seeded, help_text)

    finished_at = datetime.now(UTC)
    report = Report(
        started_at=started_at,
        finished_at=finished_at,
        seconds=round((finished_at - started_at).total_seconds(), 1),
        command=command,
        options=options,
        machine=machine,
        seed=seeded.info,
        health=health,
        prompt=prompt,
        prompt_many=many,
        prompt_cache_off=cache_off,
        database_floor=floor,
        writes=writes,
        list_shallow=shallow,
        list_deep=deep,
        list_shallow_10=shallow_10,
        list_deep_10=deep_10,
        compile=timing,
        memory=memory,
        staleness=staleness,
        serve_log=serve_log.name,
        serve_help=help_text,
        comparison=comparison,
        comparison_note=note,
        notes=_notes(options, writes.connections, seeded.info.live_agents),
    )
    path = RESULTS / f"{stamp}.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
    bench.progress(f"results: {path}")
    return report


def _compare(
    bench: Bench,
    options: Options,
    executable: Path,
    conninfo: str,
    tmp: Path,
    stamp: str,
    seeded: Seeded,
    help_text: str,
) -> tuple[list[Comparison], str | None]:
    """(a) and (b) for every --servers x --workers, as far as this serve supports those options."""
    if options.quick:
        return [], "skipped (--quick)"
    if not options.servers and not options.workers:
        return [], "skipped (no --servers and no --workers given)"
    supported = serve_options(help_text)
    has_server, has_workers = "--server" in supported, "--workers" in supported
    if not has_server and not has_workers:
        return [], "skipped: this `org-agents serve` has neither `--server` nor `--workers`"
    configs = [
        ServerConfig(
            server=server if has_server else None,
            workers=workers if has_workers else None,
            args=[*(["--server", server] if has_server else []), *(["--workers", str(workers)] if has_workers else [])],
        )
        for server in (options.servers if has_server else [""])
        for workers in (options.workers if has_workers else [0])
    ]
    reader = {"Authorization": f"Bearer {seeded.reader_token}"}
    prompt_path = f"/org-agents/{seeded.hot_agent_id}/prompt"
    results = []
    for config in configs:
        label = " ".join(config.args)
        log_path = RESULTS / f"{stamp}-serve-{config.label}.log"
        bench.progress(f"comparison: org-agents serve {label} (log: {log_path})")
        packed = log_path.with_name(log_path.name + ".gz")
        try:
            with running_serve(executable, conninfo, tmp / "serve", log_path, config.args) as serve:
                health = bench.http_load(serve, f"[{label}] (a)", "/health", connections=options.connections)
                prompt = bench.http_load(
                    serve, f"[{label}] (b)", prompt_path, connections=options.connections, headers=reader
                )
                memory = MemoryReading(load_s=round(bench.load_s[serve.process.pid], 1), processes=serve.memory())
            outcome = Comparison(config=config, health=health, prompt=prompt, memory=memory, log_file=packed.name)
        except (ServerFailed, WrkFailed, WrkParseError) as exc:
            bench.progress(f"comparison: {label} failed: {str(exc).splitlines()[0]}")
            outcome = Comparison(config=config, error=str(exc), log_file=packed.name)
        results.append(outcome)
    missing = [name for name, present in (("--server", has_server), ("--workers", has_workers)) if not present]
    note = f"this `org-agents serve` has no {' or '.join(missing)}; compared what it has" if missing else None
    return results, note


def _notes(options: Options, write_connections: int, live_agents: int) -> list[str]:
    return [
        "serve runs as `org-agents serve --host 127.0.0.1 --port <free port>` with its default settings and log level "
        "(one access-log line per request, to a file); DATABASE_URL points it at the bench's database.",
        "(b) reads as an organization member with a bearer token and sends no If-None-Match: every response carries "
        "the prompt.",
        f"(b2) is (b) spread over {live_agents:,} agents, each with a compiled, active version of shop-buddy.json "
        "(seeded through the use cases, in three organizations): bench/lua/live_prompts.lua cycles through their "
        "live prompts, with the token of a member of each agent's organization, each wrk thread from an offset of "
        "its own. After its warm-up every worker's cache holds all of them (and as many rendered answers), so it "
        "measures the hot path with a cache of that size, not the misses. It runs right after (b), on the same "
        "serve with the same connections; (g) is read after it.",
        "(b3) is (b) on a serve of its own, started once the main one has stopped, identical but for "
        "`ORG_AGENTS_LIVE_CACHE_MB=0`: no live cache and no change feed, so every request looks its token up and "
        "reads the prompt with one indexed SELECT, each through the worker's psycopg pool ((c) is that SELECT "
        "alone). Its access log is checked afterwards: no answer came from memory. (b3)/(a) divides by the main "
        "serve's (a); (b)/(b3) is what the cache gains.",
        "(c) is the database's floor, whether or not the hot path queries per request (a live cache may answer "
        "it): the hot path's SQL (SELECT_LIVE_PROMPT) back to back on one autocommit connection from the bench "
        "process, prepared by psycopg after 5 runs; no HTTP, no pool, no transaction.",
        f'(d) sends `{{"agent_blueprint": <shop-buddy.json>}}` from {write_connections} connections to one agent; '
        "after each run the bench waits until serve's connections are idle, then checks the agent's version "
        "numbers. Committed-unacknowledged are versions whose 201 wrk never read because the run ended while they "
        "were in flight (at most one per connection); a negative count would be a lost acknowledged write. A gap in "
        "the numbers, a lost acknowledged write, more committed-unacknowledged than connections or any error "
        "(non-201 or socket error), in a run or in the warm-up (checked the same way, not timed), fails the bench: it "
        "exits 1, after printing this summary and writing the JSON.",
        f"(e) uses {options.list_connections} connections; page 1 at the default limit (20) holds every version of the "
        "10-version agent and the newest 20 of the 10,000-version agent, so the deep page's response is twice as "
        "large; with `?limit=10` both pages hold 10 versions of the same document (equal payloads, the deep one "
        "also has a next cursor), so their ratio isolates the depth.",
        "(f) compiles shop-buddy.json grown with long capabilities, knowledge sources and test scenarios "
        "(valid: no violations; the long-prompt warning applies) with domain.compiler.compile_blueprint, "
        "after 5 untimed compiles.",
        f"(g) reads VmRSS from /proc of serve and its children once serve has taken at least {options.min_load_s} s "
        "of load.",
        "(h) runs last, once (g) is read: a second serve, B (`--workers 1`, same database), next to the main one, "
        "A. The hot agent's live version is switched between two compiled versions of shop-buddy.json (the "
        "second added and compiled over HTTP on A when the seed has one): first by `POST "
        "…/blueprints/{id}/activate` on A, t0 when A's 200 is read (its commit came before); then by plain SQL "
        "setting `org_agents.current_blueprint_id` on an autocommit connection of the bench's own, t0 when it "
        "returns. After each change, keep-alive connections GET the live prompt in a tight loop until its ETag is "
        "the new version's; the staleness is that response's time minus t0, per change the slowest connection's. "
        f"B is polled on one connection, A (after the SQL change) on {STALENESS_A_CONNECTIONS} at once, each until "
        "it sees the change: the kernel spreads connections over A's workers, so all of them are very likely, not "
        "certainly, covered. Each connection is checked to serve the old version just before each change (from "
        "its worker's cache: the previous change's first read filled it). The pollers share the cores with both "
        f"serves and PostgreSQL. A change some connection has not seen after {STALENESS_FAIL_AFTER_S:.0f} s fails "
        "the run. The original version is live again afterwards.",
    ]
