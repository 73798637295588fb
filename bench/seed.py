"""The bench's data: organizations, agents and versions, written through the application's own use cases, except
the 10,000 versions of the deep agent, which one INSERT … SELECT writes the way add_version would have. The hot agent
and every filler agent have a compiled, active version of shop-buddy.json: 1,000 live prompts for (b2)."""

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, LiteralString, TypeVar
from uuid import UUID

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from application.agents import CreateAgent, create_agent
from application.blueprints import AddVersion, CompileVersion, ListVersions, add_version, compile_version, list_versions
from application.deps import Deps
from application.tokens import CreateToken, authenticate, create_token
from bench.model import SeedInfo
from domain.audit import Action
from domain.blueprints import CompilationStatus
from domain.roles import Principal, Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.http.examples import SHOP_BUDDY_FILE
from entrypoints.settings import Settings

SHOP_BUDDY: Final = SHOP_BUDDY_FILE
ORGANIZATIONS: Final = 3
LIVE_AGENTS: Final = 1_000  # with a compiled, active version: the hot agent and the fillers, spread over the orgs
SPECIAL: Final = 4  # the hot, writers', shallow and deep agents
AGENTS: Final = LIVE_AGENTS + SPECIAL - 1  # in all
SHALLOW_VERSIONS: Final = 10
DEEP_VERSIONS: Final = 10_000
CONCURRENCY: Final = 8  # use cases in flight while seeding; below the pool's 10 connections

T = TypeVar("T")


class SeedError(RuntimeError):
    """The seeded data is not what the bench needs; the message says what differs."""


class Seeded(msgspec.Struct, frozen=True, kw_only=True):
    """What the measurements need. The tokens are secrets of a throwaway database, kept out of the results."""

    info: SeedInfo
    org_id: UUID  # of the organization that owns the four agents below
    hot_agent_id: UUID
    writer_agent_id: UUID
    shallow_agent_id: UUID
    deep_agent_id: UUID
    reader_token: str  # a member's: reads, and drafts (members may add versions)
    owner_token: str
    # (b2): every agent with a live prompt, the hot one first, with the token of a member of its organization
    live_agents: list[tuple[UUID, str]]


def shop_buddy() -> dict[str, Any]:
    """The design's example blueprint, read from the tests' file."""
    doc: dict[str, Any] = json.loads(SHOP_BUDDY.read_text(encoding="utf-8"))
    return doc


# Versions as add_version writes them: a draft numbered n, created by the member, and its blueprint.create event.
INSERT_VERSIONS: Final[LiteralString] = """
    WITH inserted AS (
        INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id,
                                      compilation_status)
        SELECT gen_random_uuid(), %(agent_id)s, n, %(document)s, %(user_id)s,
               %(start)s + n * interval '1 microsecond', NULL, 'draft'
        FROM generate_series(1, %(versions)s) AS n
        RETURNING id, version, created_at
    )
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, occurred_at, details)
    SELECT gen_random_uuid(), %(org_id)s, %(user_id)s, %(action)s, id, created_at,
           jsonb_build_object('agent_id', %(agent_id)s::text, 'version', version)
    FROM inserted
"""


def seed(conninfo: str, data_dir: Path) -> Seeded:
    started = time.perf_counter()
    seeded = asyncio.run(_seed(conninfo, data_dir))
    settle(conninfo)
    info = msgspec.structs.replace(seeded.info, seconds=round(time.perf_counter() - started, 2))
    return msgspec.structs.replace(seeded, info=info)


def settle(conninfo: str) -> None:
    """Leaves nothing for the database to catch up on during the measurements: statistics and the visibility map
    as a database in service has them (not whatever autovacuum got to), and the seed's writes checkpointed."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")  # needs superuser or pg_checkpoint on a DATABASE_URL server


async def _bounded(jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


async def _live_agent(services: Deps, owner: Principal, name: str, doc: dict[str, Any]) -> UUID:
    """An agent with one version, compiled and active: what a live prompt takes, through the use cases."""
    agent = await create_agent(services, owner, CreateAgent(name=name, description="filler, live"))
    draft = await add_version(services, owner, AddVersion(agent_id=agent.id, agent_blueprint=doc))
    compiled = await compile_version(
        services, owner, CompileVersion(agent_id=agent.id, version_id=draft.id, activate=True)
    )
    if compiled.blueprint.compilation_status is not CompilationStatus.COMPILED:
        raise SeedError("shop-buddy.json did not compile")
    return agent.id


async def _principal(services: Deps, org: str, user: str, role: Role) -> tuple[Principal, str]:
    issued = await create_token(services, CreateToken(org_name=org, user_id=user, role=role))
    principal = await authenticate(services, issued.secret)
    if principal is None:
        raise SeedError(f"a fresh token of {user} does not authenticate")
    return principal, issued.secret


async def _seed(conninfo: str, data_dir: Path) -> Seeded:
    doc = shop_buddy()
    async with postgres_deps(Settings(database_url=conninfo, data_dir=data_dir), conninfo) as services:
        orgs = [f"bench-org-{n}" for n in range(1, ORGANIZATIONS + 1)]
        owners = [await _principal(services, org, f"{org}-owner", Role.OWNER) for org in orgs]
        members = [await _principal(services, org, f"{org}-member", Role.MEMBER) for org in orgs]
        member, member_token = members[0]
        owner, owner_token = owners[0]

        hot = await create_agent(services, owner, CreateAgent(name="Shop Buddy (hot)", description="the live prompt"))
        draft = await add_version(services, owner, AddVersion(agent_id=hot.id, agent_blueprint=doc))
        compiled = await compile_version(
            services, owner, CompileVersion(agent_id=hot.id, version_id=draft.id, activate=True)
        )
        if compiled.blueprint.compilation_status is not CompilationStatus.COMPILED:
            raise SeedError("shop-buddy.json did not compile")
        writer = await create_agent(services, member, CreateAgent(name="Shop Buddy (writers)"))
        shallow = await create_agent(services, member, CreateAgent(name="Shop Buddy (10 versions)"))
        for _ in range(SHALLOW_VERSIONS):
            await add_version(services, member, AddVersion(agent_id=shallow.id, agent_blueprint=doc))
        deep = await create_agent(services, member, CreateAgent(name="Shop Buddy (10,000 versions)"))
        await _insert_versions(conninfo, member, deep.id, doc, DEEP_VERSIONS)

        fillers = [AGENTS // ORGANIZATIONS + (1 if n < AGENTS % ORGANIZATIONS else 0) for n in range(ORGANIZATIONS)]
        fillers[0] -= SPECIAL
        jobs: list[Callable[[], Awaitable[UUID]]] = []
        tokens: list[str] = []
        for (principal, _), (_, token), count in zip(owners, members, fillers, strict=True):
            for n in range(count):
                jobs.append(functools.partial(_live_agent, services, principal, f"Agent {n + 1:04d}", doc))
                tokens.append(token)
        live_agents = [(hot.id, member_token), *zip(await _bounded(jobs), tokens, strict=True)]
        if len(live_agents) != LIVE_AGENTS:
            raise SeedError(f"{len(live_agents)} agents are live, not {LIVE_AGENTS}")

        page = await list_versions(services, member, ListVersions(agent_id=deep.id))
        expected = list(range(DEEP_VERSIONS, DEEP_VERSIONS - len(page.items), -1))
        if [v.version for v in page.items] != expected or page.next_cursor is None or not page.items:
            raise SeedError(f"the deep agent's first page reads {[v.version for v in page.items]}, not {expected}")

    info = SeedInfo(
        organizations=ORGANIZATIONS,
        agents=SPECIAL + sum(fillers),
        hot_agent_id=str(hot.id),
        writer_agent_id=str(writer.id),
        shallow_agent_id=str(shallow.id),
        shallow_versions=SHALLOW_VERSIONS,
        deep_agent_id=str(deep.id),
        deep_versions=DEEP_VERSIONS,
        live_agents=len(live_agents),
        seconds=0.0,
    )
    return Seeded(
        info=info,
        org_id=owner.org_id,
        hot_agent_id=hot.id,
        writer_agent_id=writer.id,
        shallow_agent_id=shallow.id,
        deep_agent_id=deep.id,
        reader_token=member_token,
        owner_token=owner_token,
        live_agents=live_agents,
    )


async def _insert_versions(conninfo: str, who: Principal, agent_id: UUID, doc: dict[str, Any], versions: int) -> None:
    start = datetime.now(UTC)  # one microsecond apart: in order, after the agent, all within 10 ms
    params = {
        "agent_id": agent_id,
        "org_id": who.org_id,
        "user_id": who.user_id,
        "document": Jsonb(doc),
        "start": start,
        "versions": versions,
        "action": Action.BLUEPRINT_CREATE.value,
    }
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        await conn.execute(INSERT_VERSIONS, params)
        await conn.commit()
