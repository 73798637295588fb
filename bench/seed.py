"""The bench's data: its own database, seeded through the application's use cases, and (f)'s large blueprint."""

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, LiteralString
from uuid import UUID

import msgspec
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from adapters.embedded_postgres import embedded_postgres
from adapters.postgres.migrations import load_migrations, migrate_up
from application.agents import CreateAgent, create_agent
from application.blueprints import AddVersion, CompileVersion, add_version, compile_version
from application.deps import Deps
from application.labels import MoveLabel, move_label_to
from application.tokens import CreateToken, create_token
from bench.measure import BenchFailed, percentile
from domain.audit import Action
from domain.blueprints import MAX_ITEMS, CompilationStatus, storage_violations
from domain.compiler import compile_blueprint
from domain.roles import Principal, Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings

ORGANIZATIONS: Final = 3
LIVE_AGENTS: Final = 1_000  # the hot agent and 999 others, spread over the organizations: (b2)
WATCH_LABEL: Final = "staging"  # (i) and (j) watch it
SHALLOW_VERSIONS: Final = 10
DEEP_VERSIONS: Final = 10_000
CONCURRENCY: Final = 8  # use cases in flight while seeding; below the pool's 10 connections

# Versions as add_version writes them: a draft numbered n, created by the member, and its blueprint.create event.
INSERT_VERSIONS: Final[LiteralString] = """
    WITH inserted AS (
        INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, created_at,
                                      compilation_status)
        SELECT gen_random_uuid(), %(agent_id)s, n, %(document)s, %(user_id)s,
               %(start)s + n * interval '1 microsecond', 'draft'
        FROM generate_series(1, %(versions)s) AS n
        RETURNING id, version, created_at
    )
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, agent_id, occurred_at, details)
    SELECT gen_random_uuid(), %(org_id)s, %(user_id)s, %(action)s, id, %(agent_id)s, created_at,
           jsonb_build_object('version', version)
    FROM inserted
"""


@contextlib.contextmanager
def bench_database(tmp: Path) -> Iterator[tuple[str, str]]:
    """(conninfo, kind) of a fresh, migrated database: an embedded PostgreSQL, or with DATABASE_URL a database
    `org_agents_bench_<pid>` created on that server (the role needs CREATEDB) and dropped afterwards."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        with embedded_postgres(tmp / "postgres") as conninfo:
            migrate_up(conninfo, load_migrations())
            yield conninfo, "embedded"
        return
    name, admin = f"org_agents_bench_{os.getpid()}", make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        conninfo = make_conninfo(url, dbname=name)
        migrate_up(conninfo, load_migrations())
        yield conninfo, "DATABASE_URL"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Seeded(msgspec.Struct, frozen=True, kw_only=True):
    organizations: int
    agents: int
    seconds: float
    org_id: UUID  # owns the four agents below
    hot: UUID
    writer: UUID
    shallow: UUID
    deep: UUID
    watched: UUID  # (i): live, its staging label on the first of `watched_versions`, both compiled
    watched_versions: list[UUID]
    idle: UUID  # (j): live, its staging label on its live version
    idle_version: UUID
    reader_token: str  # a member's (members read and add versions)
    owner_token: str
    live_agents: list[tuple[UUID, str]]  # (b2): the hot agent first, each with a member's token of its organization

    def info(self) -> dict[str, Any]:
        """What the results record: no token."""
        found = {k: v for k, v in msgspec.structs.asdict(self).items() if not k.endswith("_token")}
        return found | {"live_agents": len(self.live_agents)}


async def _live_agent(deps: Deps, owner: Principal, name: str) -> UUID:
    agent = await create_agent(deps, owner, CreateAgent(name=name))
    draft = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    made = await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=draft.id, activate=True))
    if made.blueprint.compilation_status is not CompilationStatus.COMPILED:
        raise BenchFailed("shop-buddy.json did not compile")
    return agent.id


async def _labelled_agent(deps: Deps, owner: Principal, name: str) -> tuple[UUID, list[UUID]]:
    """A live agent and two compiled versions, the first live and named by WATCH_LABEL."""
    agent = await create_agent(deps, owner, CreateAgent(name=name))
    versions = []
    for activate in (True, False):
        draft = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
        await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=draft.id, activate=activate))
        versions.append(draft.id)
    await move_label_to(deps, owner, MoveLabel(agent_id=agent.id, name=WATCH_LABEL, blueprint_id=versions[0]))
    return agent.id, versions


async def _token(deps: Deps, org: str, user: str, role: Role) -> tuple[Principal, str]:
    made = await create_token(deps, CreateToken(org_name=org, user_id=user, role=role))
    return Principal(org_id=made.token.org_id, user_id=user, role=role), made.secret


async def _seed(conninfo: str, data_dir: Path) -> Seeded:
    async with postgres_deps(Settings(database_url=conninfo, data_dir=data_dir), conninfo) as deps:
        orgs = [f"bench-org-{n}" for n in range(1, ORGANIZATIONS + 1)]
        owners = [await _token(deps, org, f"{org}-owner", Role.OWNER) for org in orgs]
        members = [await _token(deps, org, f"{org}-member", Role.MEMBER) for org in orgs]
        (owner, owner_token), (member, member_token) = owners[0], members[0]
        hot = await _live_agent(deps, owner, "Shop Buddy (hot)")
        watched, watched_versions = await _labelled_agent(deps, owner, "Shop Buddy (watched)")
        idle, (idle_version, _) = await _labelled_agent(deps, owner, "Shop Buddy (idle watches)")
        writer = await create_agent(deps, member, CreateAgent(name="Shop Buddy (writers)"))
        shallow = await create_agent(deps, member, CreateAgent(name="Shop Buddy (10 versions)"))
        for _ in range(SHALLOW_VERSIONS):
            await add_version(deps, member, AddVersion(agent_id=shallow.id, agent_blueprint=shop_buddy()))
        deep = await create_agent(deps, member, CreateAgent(name="Shop Buddy (10,000 versions)"))
        params = {
            "agent_id": deep.id,
            "org_id": member.org_id,
            "user_id": member.user_id,
            "start": datetime.now(UTC),
            "document": Jsonb(shop_buddy()),
            "versions": DEEP_VERSIONS,
            "action": Action.BLUEPRINT_CREATE.value,
        }
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            await conn.execute(INSERT_VERSIONS, params)

        gate = asyncio.Semaphore(CONCURRENCY)

        async def filler(n: int) -> tuple[UUID, str]:
            (owner_n, _), (_, token) = owners[n % ORGANIZATIONS], members[n % ORGANIZATIONS]
            async with gate:
                return await _live_agent(deps, owner_n, f"Agent {n:04d}"), token

        live = [(hot, member_token), *await asyncio.gather(*(filler(n) for n in range(1, LIVE_AGENTS)))]
    return Seeded(organizations=ORGANIZATIONS, agents=LIVE_AGENTS + 5, seconds=0.0, org_id=owner.org_id, hot=hot,
                  writer=writer.id, shallow=shallow.id, deep=deep.id, watched=watched,
                  watched_versions=watched_versions, idle=idle, idle_version=idle_version,
                  reader_token=member_token, owner_token=owner_token, live_agents=live)  # fmt: skip


def seed(conninfo: str, data_dir: Path) -> Seeded:
    """Then VACUUM (ANALYZE) and CHECKPOINT, so that autovacuum and checkpoints stay out of the measurements."""
    started = time.perf_counter()
    seeded = asyncio.run(_seed(conninfo, data_dir))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")  # needs superuser or pg_checkpoint on a DATABASE_URL server
    return msgspec.structs.replace(seeded, seconds=round(time.perf_counter() - started, 1))


PROSE: Final = (
    "linen shirt size stock return window receipt exchange denim jacket boots refund store credit delivery tracking "
    "parcel courier weekend opening hours loyalty points discount code voucher seasonal sale fabric care washing"
)
WORDS: Final = PROSE.split()


def large_blueprint(target_bytes: int = 200 * 1024) -> dict[str, Any]:
    """shop-buddy.json grown with long, valid capabilities, knowledge sources and test scenarios."""
    doc, n = shop_buddy(), 0
    while len(msgspec.json.encode(doc)) < target_bytes and n < MAX_ITEMS - 10:
        n += 1
        text = [" ".join(WORDS[(n * 7 + i * 13 + i * i + k) % len(WORDS)] for i in range(8 + 6 * k)) for k in range(8)]
        doc["capabilities"].append({"task": f"Family {n}: {text[0]}", "description": text[7], "examples": text[1:4]})
        doc["knowledge_sources"].append({"source": f"Handbook {n}: {text[4]}", "type": "document"})
        doc["test_scenarios"].append({"question": text[5], "expected": text[6]})
    return doc


class Compile(msgspec.Struct, frozen=True):
    document_bytes: int
    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 0.95)


def time_compiles(doc: dict[str, Any], compiles: int = 50, warmup: int = 5) -> Compile:
    """(f): compile_blueprint, `warmup` times untimed, then `compiles` times one by one."""
    if compile_blueprint(doc).violations or storage_violations(doc):
        raise BenchFailed("(f) the large blueprint does not compile cleanly")
    samples = []
    for n in range(warmup + compiles):
        started = time.perf_counter()
        compile_blueprint(doc)
        if n >= warmup:
            samples.append(round((time.perf_counter() - started) * 1000, 3))
    return Compile(len(msgspec.json.encode(doc)), samples)
