"""The measurements (a), (b), (b2), (d), (e) and (g) against a running serve, (c) against the database directly, and
(d)'s verdict."""

import http.client
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
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
    write_failures,
    write_problems,
)
from bench.server import Serve
from bench.wrk import Wrk, WrkResult

WRITE_SCRIPT: Final = "post_blueprint.lua"
MANY_SCRIPT: Final = "live_prompts.lua"
PRECHECKED: Final = 20  # (b2): agents whose live prompt is fetched once before the load, evenly spread
REQUEST_TIMEOUT_S: Final = 10.0


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

    def warm_up(
        self,
        serve: Serve,
        path: str,
        *,
        connections: int,
        headers: dict[str, str] | None = None,
        script: str | None = None,
        script_env: dict[str, str] | None = None,
    ) -> None:
        """Untimed load first: the pool fills, statements get prepared, caches warm."""
        if self.options.warmup_s > 0:
            self._wrk(serve, path, connections=connections, duration_s=self.options.warmup_s, headers=headers,
                      script=script, script_env=script_env)  # fmt: skip

    def http_load(
        self,
        serve: Serve,
        name: str,
        path: str,
        *,
        connections: int,
        headers: dict[str, str] | None = None,
        script: str | None = None,
        script_env: dict[str, str] | None = None,
    ) -> HttpLoad:
        """(a), (b), (b2), (b3), (e): GET `path` (or what `script` asks for), warmed up, then `runs` timed runs."""
        self.warm_up(serve, path, connections=connections, headers=headers, script=script, script_env=script_env)
        results, outputs = [], []
        for run in range(1, self.options.runs + 1):
            result, output = self._wrk(
                serve, path, connections=connections, duration_s=self.options.duration_s, headers=headers,
                script=script, script_env=script_env,
            )  # fmt: skip
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
        """(d): concurrent writers POST versions of one agent; the database is checked after every run, the warm-up
        included (its writes count for the verdict, not for the speed)."""
        path = f"/org-agents/{agent_id}/blueprints"
        connections = self.options.write_connections
        env = {"BENCH_BODY_FILE": body_file}

        def one_run(label: str, duration_s: int) -> tuple[WriteRun, str]:
            before = settled_versions_of(conninfo, agent_id)
            result, output = self._wrk(serve, path, connections=connections, duration_s=duration_s, headers=headers,
                                       script=WRITE_SCRIPT, script_env=env)  # fmt: skip
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
            self.progress(
                f"(d) POST {path} {label}: {write.versions_per_s:,.0f} versions/s, "
                f"statuses {dict(sorted(result.statuses.items()))}, socket errors {result.socket_errors.total}, "
                f"p99 {result.p99_ms:.2f} ms; versions now {after.count} (min {after.min_version}, max "
                f"{after.max_version}, gapless {after.gapless}), committed but unacknowledged {write.unacknowledged}"
            )
            for problem in write_problems(write, connections):
                self.progress(f"(d) {label} FAILED (the bench exits 1 once the rest is reported): {problem}")
            return write, output

        warmup = one_run("warm-up", self.options.warmup_s)[0] if self.options.warmup_s > 0 else None
        runs: list[WriteRun] = []
        outputs: list[str] = []
        for run in range(1, self.options.runs + 1):
            write, output = one_run(f"run {run}/{self.options.runs}", self.options.duration_s)
            runs.append(write)
            outputs.append(output)
        return WriteLoad(
            name=f"POST blueprints, {connections} writers on one agent",
            path=path,
            connections=connections,
            duration_s=self.options.duration_s,
            versions_per_s=runs_of([r.versions_per_s for r in runs]),
            errors=sum(r.errors for r in runs),
            gapless=all(r.gapless for r in runs),
            acknowledged_kept=all(0 <= r.unacknowledged <= connections for r in runs),
            warmup=warmup,
            runs=runs,
            outputs=outputs,
        )

    def many_prompts(
        self, serve: Serve, name: str, live_agents: Sequence[tuple[UUID, str]], paths_file: Path
    ) -> HttpLoad:
        """(b2): the live prompts of every agent in `live_agents` in turn (lua/live_prompts.lua), as (b) loads one.
        Writes `paths_file` for the script; a sample of the agents must answer 200 first."""
        lines = [(f"/org-agents/{agent_id}/prompt", token) for agent_id, token in live_agents]
        paths_file.write_text("".join(f"{path} {token}\n" for path, token in lines), encoding="utf-8")
        step = max(1, len(lines) // PRECHECKED)
        expect_ok(serve, [(path, {"Authorization": f"Bearer {token}"}) for path, token in lines[::step]], name)
        return self.http_load(serve, name, lines[0][0], connections=self.options.connections, script=MANY_SCRIPT,
                              script_env={"BENCH_PATHS_FILE": str(paths_file)})  # fmt: skip

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


def expect_ok(serve: Serve, requests: Sequence[tuple[str, dict[str, str]]], what: str) -> None:
    """GETs each (path, headers) on one keep-alive connection; BenchFailed unless every answer is a 200."""
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=REQUEST_TIMEOUT_S)
    try:
        for path, headers in requests:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise BenchFailed(f"{what}: GET {path} answered {response.status}, not 200: {body[:300]!r}")
    finally:
        connection.close()


def check_writes(writes: WriteLoad) -> None:
    """BenchFailed when (d) lost or gapped a write, or had errors (see write_failures)."""
    failures = write_failures(writes.runs, writes.connections, warmup=writes.warmup)
    if failures:
        raise BenchFailed(
            f"(d) {writes.name}: correctness violated ({len(failures)} finding(s)): " + "; ".join(failures)
        )
