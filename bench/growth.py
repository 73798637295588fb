"""How cost grows: the reads of an organization of 100,000 agents, one with 100,000 versions, beside a small one's,
through `org-agents serve` under wrk (BENCHMARKS.md, "How cost grows"). Run: `uv run python -m bench.growth`."""

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, LiteralString, NamedTuple
from uuid import UUID, uuid4

import httpx
import msgspec
import psycopg

from application.pagination import AgentKey, VersionKey, encode_cursor
from application.tokens import CreateToken, create_token
from bench.seed import bench_database
from bench.wrk import Run, wrk
from domain.roles import Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.settings import Settings
from tests.serving import Serving, serving

RESULTS: Final = Path(__file__).parent / "results"
WORKERS: Final = 2
CONNECTIONS: Final = 16
UNREFUSED_RATE: Final = "1000000000"  # requests/s per credential: the limiter runs and never refuses (as the bench)
DEEP_FRACTION: Final = 0.99  # the deep agent page starts this far into the organization's agents
DEEP_VERSION: Final = 100  # the deep version page starts just below it
VERSION_LIMIT: Final = 5  # the small agent's 10 versions make two such pages, the first and the deep one
MATCHES: Final = 5  # agents whose name contains HIT, in each organization
HIT: Final = "buddy"
MISS: Final = "zebra"


class Size(NamedTuple):
    name: str
    agents: int
    versions: int  # of its agent with versions


SMALL: Final = Size("small", 1_000, 10)
BIG: Final = Size("big", 100_000, 100_000)

# Agent n (1…agents) was created n seconds before `start`, the agent with versions at `start`: newest first it is
# first and agent n is at position n + 1. Every MATCHES-th of them is named for HIT, every 10th deactivated. Each agent
# has its agent.create event; each version its blueprint.create, and a compiled one its blueprint.compile.
SEED: Final[tuple[LiteralString, ...]] = (
    """
    INSERT INTO org_agents (id, org_id, name, description, status, created_by, created_at, updated_at)
    SELECT CASE WHEN n = 0 THEN %(agent)s ELSE gen_random_uuid() END, %(org)s,
           CASE WHEN n = 0 THEN 'Release notes writer'
                WHEN n %% (%(agents)s / %(matches)s) = 0 THEN 'Shop Buddy ' || n
                ELSE 'Support agent ' || n END,
           CASE WHEN n %% 3 = 0 THEN 'Answers questions about orders, returns and delivery' END,
           CASE WHEN n %% 10 = 9 THEN 'deactive' ELSE 'active' END, %(user)s,
           %(start)s - n * interval '1 second', %(start)s - n * interval '1 second'
    FROM generate_series(0, %(agents)s) AS n
    """,
    """
    INSERT INTO agent_blueprints (agent_id, version, agent_blueprint, created_by, created_at, conversation_id,
                                  message, compilation_status, compiled_system_prompt, compiled_at, compiled_by,
                                  compile_errors)
    SELECT %(agent)s, n,
           jsonb_build_object('identity', jsonb_build_object('name', 'Release notes writer', 'role', 'writer',
                                                             'primary_purpose', 'Writes release notes, take ' || n)),
           %(user)s::text, %(start)s + n * interval '1 millisecond',
           CASE WHEN n %% 3 = 0 THEN 'conversation ' || n %% 7 END,
           CASE WHEN n %% 2 = 0 THEN 'edit ' || n END,
           CASE WHEN n %% 4 = 0 THEN 'compiled' WHEN n %% 50 = 25 THEN 'failed' ELSE 'draft' END,
           CASE WHEN n %% 4 = 0 THEN 'You are Release notes writer. Take ' || n || '.' END,
           CASE WHEN n %% 4 = 0 OR n %% 50 = 25 THEN %(start)s + n * interval '1 millisecond' END,
           CASE WHEN n %% 4 = 0 OR n %% 50 = 25 THEN %(user)s::text END,
           CASE WHEN n %% 50 = 25 THEN '[{"path": "identity.role", "message": "required, non-blank"}]'::jsonb END
    FROM generate_series(1, %(versions)s) AS n
    """,
    """
    UPDATE org_agents SET current_blueprint_id = (
        SELECT id FROM agent_blueprints
        WHERE agent_id = %(agent)s AND compilation_status = 'compiled' ORDER BY version DESC LIMIT 1
    ) WHERE id = %(agent)s
    """,
    """
    INSERT INTO agent_audit_events (org_id, actor, action, target_id, agent_id, occurred_at, details)
    SELECT org_id, created_by, 'agent.create', id, id, created_at, jsonb_build_object('name', name)
    FROM org_agents WHERE org_id = %(org)s
    UNION ALL
    SELECT %(org)s, created_by, 'blueprint.create', id, agent_id, created_at, jsonb_build_object('version', version)
    FROM agent_blueprints WHERE agent_id = %(agent)s
    UNION ALL
    SELECT %(org)s, created_by, 'blueprint.compile', id, agent_id, compiled_at, jsonb_build_object('version', version)
    FROM agent_blueprints WHERE agent_id = %(agent)s AND compilation_status = 'compiled'
    """,
)
# The agent at `position` (from 1) of the organization's list, newest first, as the list orders it.
AGENT_AT: Final = """
    SELECT created_at, id FROM org_agents
    WHERE org_id = %(org)s AND status <> 'delete'
    ORDER BY created_at DESC, id DESC
    OFFSET %(position)s - 1 LIMIT 1
"""


class Org(msgspec.Struct, frozen=True, kw_only=True):
    size: str
    agents: int
    versions: int
    org_id: UUID
    agent_id: UUID  # the agent with versions
    token: str  # the owner's
    deep_position: int  # the deep agent page's cursor: the agent at this position
    deep_cursor: str
    after_deep: UUID  # the first agent of the deep page


class Case(NamedTuple):
    """One request; `items`: how many a good answer lists, `first`: (field, value) of its first item."""

    name: str
    path: str
    body: bytes | None = None  # POSTed when given
    items: int | None = None
    first: tuple[str, object] | None = None


def agent_cursor(created_at: datetime, agent_id: UUID) -> str:
    """The cursor the list gives after this agent (application/agents.py's key)."""
    return encode_cursor(AgentKey(created_at=created_at, id=agent_id))


def deep_position(agents: int, limit: int = 20) -> int:
    """The deep page's cursor: DEEP_FRACTION into the organization's agents, but a whole page before the last agent
    (the agent with versions is one more)."""
    return min(round(agents * DEEP_FRACTION), agents + 1 - limit)


def _search(query: str) -> bytes:
    return msgspec.json.encode({"query": query, "limit": 20})


def cases(org: Org) -> list[Case]:
    """What is measured, and what a good answer to each holds (limit 20, VERSION_LIMIT for one agent's lists)."""
    agent, versions = f"/org-agents/{org.agent_id}", org.versions
    deep = min(DEEP_VERSION, versions // 2 + 1)  # the small agent's deep page is its second and last
    found = [
        Case("agents, first page", "/org-agents?limit=20", items=20),
        Case("agents, deep page", f"/org-agents?limit=20&cursor={org.deep_cursor}", items=20,
             first=("id", str(org.after_deep))),
        Case("versions, first page", f"{agent}/blueprints?limit={VERSION_LIMIT}", items=VERSION_LIMIT,
             first=("version", versions)),
        Case("versions, deep page",
             f"{agent}/blueprints?limit={VERSION_LIMIT}&cursor={encode_cursor(VersionKey(version=deep))}",
             items=VERSION_LIMIT, first=("version", deep - 1)),
        Case(f"search, {MATCHES} matches", "/org-agents/search", _search(HIT), items=MATCHES),
        Case("search, no match", "/org-agents/search", _search(MISS), items=0),
        Case("compilation stats", "/org-agents/compilation-stats"),
        Case("audit trail, first page", "/org-agents/audit-events?limit=20", items=20),
        Case("agent's audit trail", f"{agent}/audit-events?limit={VERSION_LIMIT}", items=VERSION_LIMIT),
    ]  # fmt: skip
    return found


def problem(case: Case, status: int, body: object) -> str | None:
    """Why an answer is not the one `case` is meant to measure; None when it is."""
    if status != 200:
        return f"{case.name}: {status} {body}"
    found = body.get("items") if isinstance(body, dict) else None
    if case.items is None:
        return None
    if not isinstance(found, list) or len(found) != case.items:
        return f"{case.name}: {len(found) if isinstance(found, list) else 'no'} items, not {case.items}"
    if case.first is not None:
        field, value = case.first
        if not found or not isinstance(found[0], dict) or found[0].get(field) != value:
            got = found[0].get(field) if found and isinstance(found[0], dict) else None
            return f"{case.name}: the first item's {field} is {got!r}, not {value!r}"
    return None


class GrowthFailed(RuntimeError):
    """A measurement could not be taken as designed."""


async def _tokens(conninfo: str, data_dir: Path) -> dict[str, tuple[UUID, str]]:
    """(org_id, an owner's secret) by size, each organization created by its token."""
    found = {}
    async with postgres_deps(Settings(database_url=conninfo, data_dir=data_dir), conninfo) as deps:
        for size in (SMALL, BIG):
            made = await create_token(deps, CreateToken(org_name=f"growth-{size.name}", user_id="owner",
                                                        role=Role.OWNER))  # fmt: skip
            found[size.name] = (made.token.org_id, made.secret)
    return found


def seed(conninfo: str, data_dir: Path, progress: "Progress") -> list[Org]:
    """Both organizations, then VACUUM (ANALYZE) and CHECKPOINT (autovacuum stays out of the measurements)."""
    tokens, orgs, start = asyncio.run(_tokens(conninfo, data_dir)), [], datetime.now(UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for size in (SMALL, BIG):
            org_id, token = tokens[size.name]
            agent_id = uuid4()
            params = {"org": org_id, "agent": agent_id, "user": "owner", "start": start, "agents": size.agents,
                      "versions": size.versions, "matches": MATCHES}  # fmt: skip
            with conn.transaction():
                for statement in SEED:
                    conn.execute(statement, params)
            position = deep_position(size.agents)
            at, after = (conn.execute(AGENT_AT, params | {"position": p}).fetchone() for p in (position, position + 1))
            if at is None or after is None:
                raise GrowthFailed(f"{size.name}: no agent at position {position}")
            orgs.append(Org(size=size.name, agents=size.agents, versions=size.versions, org_id=org_id,
                            agent_id=agent_id, token=token, deep_position=position,
                            deep_cursor=agent_cursor(*at), after_deep=after[1]))  # fmt: skip
            progress(f"seeded {size.name}: {size.agents:,} agents, an agent of {size.versions:,} versions")
        conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
    return orgs


class Result(msgspec.Struct, frozen=True, kw_only=True):
    case: str
    size: str
    path: str
    runs: list[Run]

    @property
    def per_s(self) -> float:
        return statistics.median(run.per_s for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_us for run in self.runs) / 1000

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_us for run in self.runs) / 1000


class Progress:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[growth {time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def measure(
    served: Serving, orgs: Sequence[Org], options: argparse.Namespace, tmp: Path, progress: Progress
) -> list[Result]:
    """Per case, each size's answer checked, its warm-up, then run n of small and of big in turn, n = 1…runs."""
    results = []
    for n, pair in enumerate(zip(*(cases(org) for org in orgs), strict=True)):
        runs: list[list[Run]] = [[] for _ in orgs]
        for org, case in zip(orgs, pair, strict=True):
            headers = {"Authorization": f"Bearer {org.token}"}
            answer = httpx.request("POST" if case.body else "GET", served.url + case.path, headers=headers,
                                   content=case.body, timeout=30)  # fmt: skip
            if found := problem(case, answer.status_code, answer.json()):
                raise GrowthFailed(f"{org.size}: {found}")
        for attempt in range(options.runs + 1):
            for org, case, done in zip(orgs, pair, runs, strict=True):
                env = {}
                if case.body is not None:
                    (body := tmp / f"body-{n}-{org.size}.json").write_bytes(case.body)
                    env["BENCH_BODY_FILE"] = str(body)
                run = wrk(served.url + case.path, options.connections,
                          options.duration if attempt else options.warmup, {"Authorization": f"Bearer {org.token}"},
                          env)  # fmt: skip
                if served.proc.poll() is not None:
                    raise GrowthFailed(f"serve exited:\n{served.log_text()[-3000:]}")
                if run.errors.status:  # socket errors (wrk's 2 s timeout on a busy machine) are kept in the JSON
                    raise GrowthFailed(f"{org.size} {case.name}: {run.errors.status} error answers")
                if attempt:
                    done.append(run)
                    progress(f"{case.name}, {org.size}, run {attempt}: {run.per_s:,.0f} req/s, p50 "
                             f"{run.p50_us / 1000:.2f} ms, p99 {run.p99_us / 1000:.2f} ms, socket errors "
                             f"{run.socket_errors}")  # fmt: skip
        results += [Result(case=case.name, size=org.size, path=case.path, runs=done)
                    for org, case, done in zip(orgs, pair, runs, strict=True)]  # fmt: skip
    return results


def ratio(big: float, small: float) -> str:
    return f"{big / small:.2f}" if small else "-"


def table(results: Sequence[Result], orgs: Sequence[Org]) -> str:
    """One row per case: each size's median req/s, p50 and p99, and big/small of req/s and of p99."""
    small, big = orgs
    lines = [
        f"| request | {small.agents:,} agents, {small.versions:,} versions: req/s, p50, p99 "
        f"| {big.agents:,} agents, {big.versions:,} versions: req/s, p50, p99 | big/small req/s | big/small p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    by_case = {(r.case, r.size): r for r in results}
    for case in dict.fromkeys(r.case for r in results):
        s, b = by_case[case, small.size], by_case[case, big.size]
        lines.append(f"| {case} | {s.per_s:,.0f}, {s.p50_ms:.1f} ms, {s.p99_ms:.1f} ms "
                     f"| {b.per_s:,.0f}, {b.p50_ms:.1f} ms, {b.p99_ms:.1f} ms | {ratio(b.per_s, s.per_s)} "
                     f"| {ratio(b.p99_ms, s.p99_ms)} |")  # fmt: skip
    return "\n".join(lines)


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--duration", type=int, default=5, help="seconds per timed run (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of the untimed first run (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size and request; medians (default 3)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help=f"wrk -c (default {CONNECTIONS})")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _serve(conninfo: str, tmp: Path, log: Path) -> Iterator[Serving]:
    """serve with its defaults (no ORG_AGENTS_* of ours) but WORKERS workers and a rate that never refuses."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ORG_AGENTS_")}
    env |= {"DATABASE_URL": conninfo, "ORG_AGENTS_DATA_DIR": str(tmp / "serve"),
            "ORG_AGENTS_RATE_LIMIT": UNREFUSED_RATE}  # fmt: skip
    with serving(env, log, ["--workers", str(WORKERS)]) as served:
        yield served


def main(argv: Sequence[str] | None = None) -> None:
    options, progress = _options(argv), Progress()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="org-agents-growth-") as scratch, \
            bench_database(Path(scratch)) as (conninfo, kind):  # fmt: skip
        tmp = Path(scratch)
        progress(f"database: {kind}")
        started = time.monotonic()
        orgs = seed(conninfo, tmp / "seed", progress)
        seeded_s = round(time.monotonic() - started, 1)
        log = RESULTS / f"growth-{stamp}-serve.log"
        with _serve(conninfo, tmp, log) as served:
            results = measure(served, orgs, options, tmp, progress)
    found: dict[str, Any] = {
        "stamp": stamp, "database": kind, "seed_s": seeded_s, "workers": WORKERS, "options": vars(options),
        "orgs": [{k: v for k, v in msgspec.structs.asdict(org).items() if k != "token"} for org in orgs],
        "results": results,
    }  # fmt: skip
    (out := RESULTS / f"growth-{stamp}.json").write_bytes(msgspec.json.format(msgspec.json.encode(found)))
    progress(f"raw numbers: {out}")
    print(f"wrk -t2 -c{options.connections}, {WORKERS} workers, medians of {options.runs} runs of "
          f"{options.duration} s ({kind} PostgreSQL)\n")  # fmt: skip
    print(table(results, orgs))


if __name__ == "__main__":
    main()
