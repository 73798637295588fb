"""The measurements (a)-(e) and (g) against a running serve, and (c) against the database directly."""

import math
import sys
import time
from typing import Final
from uuid import UUID

import psycopg

from adapters.postgres.blueprints import SELECT_LIVE_PROMPT
from bench.database import settled_versions_of
from bench.model import (
    DatabaseFloor,
    HttpLoad,
    MemoryReading,
    Options,
    WriteLoad,
    WriteRun,
    runs_of,
)
from bench.server import Serve
from bench.wrk import Wrk, WrkResult

WRITE_SCRIPT: Final = "post_blueprint.lua"


class BenchFailed(RuntimeError):
    """A measurement could not be taken as designed; the message says what happened."""


class Bench:
    """Runs measurements with shared options, counts each server's seconds under load, reports progress."""

    def __init__(self, options: Options, wrk: Wrk) -> None:
        self.options = options
        self.wrk = wrk
        self.started = time.monotonic()
        self.load_s: dict[int, float] = {}  # serve pid -> seconds under wrk load

    def progress(self, message: str) -> None:
        print(f"[bench {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def _wrk(
        self,
        serve: Serve,
        path: str,
        *,
        connections: int,
        duration_s: int,
        headers: dict[str, str] | None = None,
        script: str | None = None,
        script_env: dict[str, str] | None = None,
    ) -> tuple[WrkResult, str]:
        result, output = self.wrk.run(
            serve.base_url + path, connections=connections, duration_s=duration_s, headers=headers, script=script,
            script_env=script_env,
        )  # fmt: skip
        serve.ensure_alive()
        self.load_s[serve.process.pid] = self.load_s.get(serve.process.pid, 0.0) + result.duration_s
        return result, output

    def warm_up(self, serve: Serve, path: str, *, connections: int, headers: dict[str, str] | None = None) -> None:
        """Untimed load first: the pool fills, statements get prepared, caches warm."""
        if self.options.warmup_s > 0:
            self._wrk(serve, path, connections=connections, duration_s=self.options.warmup_s, headers=headers)

    def http_load(
        self, serve: Serve, name: str, path: str, *, connections: int, headers: dict[str, str] | None = None
    ) -> HttpLoad:
        """(a), (b), (e): GET `path`, warmed up, then `runs` timed runs."""
        self.warm_up(serve, path, connections=connections, headers=headers)
        results, outputs = [], []
        for run in range(1, self.options.runs + 1):
            result, output = self._wrk(
                serve, path, connections=connections, duration_s=self.options.duration_s, headers=headers
            )
            results.append(result)
            outputs.append(output)
            self.progress(
                f"{name} run {run}/{self.options.runs}: {result.requests_per_s:,.0f} req/s, "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, non-2xx/3xx {result.non_2xx_3xx}, "
                f"socket errors {result.socket_errors.total}"
            )
        return HttpLoad(
            name=name,
            path=path,
            connections=connections,
            duration_s=self.options.duration_s,
            requests_per_s=runs_of([r.requests_per_s for r in results]),
            p50_ms=runs_of([r.p50_ms for r in results]),
            p99_ms=runs_of([r.p99_ms for r in results]),
            non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
            socket_errors=sum(r.socket_errors.total for r in results),
            runs=results,
            outputs=outputs,
        )

    def write_load(
        self, serve: Serve, conninfo: str, agent_id: UUID, headers: dict[str, str], body_file: str
    ) -> WriteLoad:
        """(d): concurrent writers POST versions of one agent; the database is checked after every run."""
        path = f"/org-agents/{agent_id}/blueprints"
        connections = self.options.write_connections
        env = {"BENCH_BODY_FILE": body_file}
        if self.options.warmup_s > 0:
            self._wrk(serve, path, connections=connections, duration_s=self.options.warmup_s, headers=headers,
                      script=WRITE_SCRIPT, script_env=env)  # fmt: skip
        runs: list[WriteRun] = []
        outputs: list[str] = []
        for run in range(1, self.options.runs + 1):
            before = settled_versions_of(conninfo, agent_id)
            result, output = self._wrk(
                serve, path, connections=connections, duration_s=self.options.duration_s, headers=headers,
                script=WRITE_SCRIPT, script_env=env,
            )  # fmt: skip
            after = settled_versions_of(conninfo, agent_id)
            if result.requests > 0 and not result.statuses:
                raise BenchFailed(f"{WRITE_SCRIPT} printed no status counts:\n{output}")
            created = result.statuses.get(201, 0)
            others = sum(count for status, count in result.statuses.items() if status != 201)
            write = WriteRun(
                wrk=result,
                created=created,
                errors=others + result.socket_errors.total,
                versions_per_s=created / result.duration_s if result.duration_s else 0.0,
                before=before,
                after=after,
                gapless=after.gapless,
                unacknowledged=after.count - before.count - created,
            )
            runs.append(write)
            outputs.append(output)
            self.progress(
                f"(d) POST {path} run {run}/{self.options.runs}: {write.versions_per_s:,.0f} versions/s, "
                f"statuses {dict(sorted(result.statuses.items()))}, socket errors {result.socket_errors.total}, "
                f"p99 {result.p99_ms:.2f} ms; versions now {after.count} (min {after.min_version}, max "
                f"{after.max_version}, gapless {after.gapless}), committed but unacknowledged {write.unacknowledged}"
            )
        return WriteLoad(
            name=f"POST blueprints, {connections} writers on one agent",
            path=path,
            connections=connections,
            duration_s=self.options.duration_s,
            versions_per_s=runs_of([r.versions_per_s for r in runs]),
            errors=sum(r.errors for r in runs),
            gapless=all(r.gapless for r in runs),
            acknowledged_kept=all(0 <= r.unacknowledged <= connections for r in runs),
            runs=runs,
            outputs=outputs,
        )

    def database_floor(self, conninfo: str, org_id: UUID, agent_id: UUID) -> DatabaseFloor:
        """(c): the hot path's SELECT, back to back on one connection."""
        params = {"org_id": org_id, "agent_id": agent_id}
        rates = []
        with psycopg.connect(conninfo, autocommit=True) as conn:
            if conn.execute(SELECT_LIVE_PROMPT, params).fetchone() is None:
                raise BenchFailed("the hot path's SELECT finds no live prompt for the hot agent")
            for run in range(1, self.options.runs + 1):
                queries = 0
                started = time.perf_counter()
                deadline = started + self.options.floor_s
                while time.perf_counter() < deadline:
                    conn.execute(SELECT_LIVE_PROMPT, params).fetchone()
                    queries += 1
                rates.append(queries / (time.perf_counter() - started))
                self.progress(f"(c) database floor run {run}/{self.options.runs}: {rates[-1]:,.0f} queries/s")
        return DatabaseFloor(
            statement=" ".join(SELECT_LIVE_PROMPT.split()),
            duration_s=self.options.floor_s,
            queries_per_s=runs_of(rates),
        )

    def memory_after_load(self, serve: Serve, path: str, headers: dict[str, str]) -> MemoryReading:
        """(g): resident memory once serve has taken `min_load_s` of load, topped up with GET `path` if short."""
        done = self.load_s.get(serve.process.pid, 0.0)
        missing = self.options.min_load_s - done
        if missing > 0:
            self.progress(f"(g) {done:.0f} s of load so far: {math.ceil(missing)} s more of GET {path}")
            self._wrk(serve, path, connections=self.options.connections, duration_s=math.ceil(missing),
                      headers=headers)  # fmt: skip
        reading = MemoryReading(load_s=round(self.load_s[serve.process.pid], 1), processes=serve.memory())
        listed = ", ".join(f"pid {p.pid}{' (worker)' if p.worker else ''} {p.rss_mb:.0f} MB" for p in reading.processes)
        self.progress(f"(g) resident memory after {reading.load_s:.0f} s of load: {listed}")
        return reading
