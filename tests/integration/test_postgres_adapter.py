"""The PostgreSQL adapter where memory cannot stand in: concurrent writers, atomicity, outages, query plans."""

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql

from application.agents import CreateAgent, create_agent
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetCompilationStats,
    ListVersions,
    activate_version,
    add_version,
    compile_version,
    get_compilation_stats,
    list_versions,
)
from application.deps import Deps
from domain.agents import AgentStatus
from domain.audit import Action
from domain.errors import Unavailable
from domain.roles import Principal, Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.http.examples import SHOP_BUDDY_FILE
from entrypoints.settings import Settings
from tests.contract.conftest import principal
from tests.contract.test_audit import agents_trail
from tests.samples import wholes

pytestmark = pytest.mark.anyio

WRITERS = 40
SHOP_BUDDY: dict[str, Any] = json.loads(SHOP_BUDDY_FILE.read_text())


def _settings(conninfo: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(database_url=conninfo, data_dir=tmp_path, **overrides)


@pytest.fixture
async def deps(migrated_database: str, tmp_path: Path) -> AsyncIterator[Deps]:
    async with postgres_deps(_settings(migrated_database, tmp_path), migrated_database) as made:
        yield made


async def _owner(deps: Deps) -> Principal:
    return await principal(deps, "acme", "ana", Role.OWNER)


async def test_concurrent_writers_of_one_agent_get_contiguous_unique_version_numbers(deps: Deps) -> None:
    owner = await _owner(deps)
    agent = await create_agent(deps, owner, CreateAgent(name="busy"))

    made = await asyncio.gather(
        *(add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint={"n": n})) for n in range(WRITERS))
    )

    assert sorted(v.version for v in made) == list(range(1, WRITERS + 1))
    listed = wholes(
        (await list_versions(deps, owner, ListVersions(agent_id=agent.id, limit=100, documents=True))).items
    )
    assert [v.version for v in listed] == list(range(WRITERS, 0, -1))
    assert {v.version: v.agent_blueprint for v in listed} == {v.version: v.agent_blueprint for v in made}


async def test_concurrent_compiles_of_one_version_record_one_result(deps: Deps) -> None:
    owner = await _owner(deps)
    agent = await create_agent(deps, owner, CreateAgent(name="shop"))
    version = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=SHOP_BUDDY))

    results = await asyncio.gather(
        *(compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=version.id)) for _ in range(16))
    )

    assert len({(r.blueprint.compiled_at, r.blueprint.compiled_system_prompt) for r in results}) == 1
    assert sum(r.message == "compiled" for r in results) == 1
    events = [e for e in await agents_trail(deps, owner) if e.target_id == version.id]
    assert [e.action for e in events] == [Action.BLUEPRINT_CREATE, Action.BLUEPRINT_COMPILE]


async def test_concurrent_activations_leave_the_agent_on_one_compiled_version_with_every_change_audited(
    deps: Deps,
) -> None:
    owner = await _owner(deps)
    agent = await create_agent(deps, owner, CreateAgent(name="switchy"))
    versions = []
    for _ in range(3):
        version = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=SHOP_BUDDY))
        await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=version.id))
        versions.append(version)

    await asyncio.gather(
        *(
            activate_version(deps, owner, ActivateVersion(agent_id=agent.id, version_id=versions[n % 3].id))
            for n in range(30)
        )
    )

    async with deps.uow() as uow:
        final = (await uow.agents.get(owner.org_id, agent.id)).current_blueprint_id
    activations = [e for e in await agents_trail(deps, owner) if e.action is Action.LABEL_MOVE]
    assert final in {v.id for v in versions}
    assert activations[-1].details["blueprint_id"] == str(final)
    # Each event is a real change, and records the version it replaced: the chain has no gap and no repeat.
    previous = [None, *(e.details["blueprint_id"] for e in activations)]
    assert [e.details["previous_blueprint_id"] for e in activations] == previous[:-1]
    assert all(a != b for a, b in itertools.pairwise(previous))


async def test_a_unit_of_work_left_without_commit_keeps_neither_the_change_nor_its_audit_event(
    deps: Deps,
) -> None:
    owner = await _owner(deps)
    agent = await create_agent(deps, owner, CreateAgent(name="kept"))
    [created] = await agents_trail(deps, owner)

    async def change_then_fail() -> None:
        async with deps.uow() as uow:
            before = await uow.agents.get_for_update(owner.org_id, agent.id)
            await uow.agents.update(msgspec.structs.replace(before, name="lost"))
            await uow.audit.record(msgspec.structs.replace(created, id=uuid.uuid4(), action=Action.AGENT_UPDATE))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await change_then_fail()

    async with deps.uow() as uow:
        assert (await uow.agents.get(owner.org_id, agent.id)).name == "kept"
    assert await agents_trail(deps, owner) == [created]


async def test_an_exhausted_pool_is_unavailable_after_the_timeout_not_a_hang(
    migrated_database: str, tmp_path: Path
) -> None:
    settings = _settings(migrated_database, tmp_path, pool_min_size=1, pool_max_size=1, pool_timeout_s=0.3)
    async with postgres_deps(settings, migrated_database) as deps:
        owner = await _owner(deps)
        async with deps.uow() as held:
            await held.agents.page(owner.org_id, statuses=[AgentStatus.ACTIVE], limit=1, after=None)
            with pytest.raises(Unavailable):
                await create_agent(deps, owner, CreateAgent(name="waits"))
        assert (await create_agent(deps, owner, CreateAgent(name="served"))).name == "served"


async def test_a_database_that_goes_away_is_unavailable_and_comes_back_by_itself(
    pg_admin: str, migrated_database: str, tmp_path: Path
) -> None:
    settings = _settings(migrated_database, tmp_path, pool_min_size=1, pool_max_size=2, pool_timeout_s=0.5)
    dbname = str(psycopg.conninfo.conninfo_to_dict(migrated_database)["dbname"])
    async with postgres_deps(settings, migrated_database) as deps:
        owner = await _owner(deps)
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [dbname])
            try:
                for _ in range(3):  # a dead pooled connection, then no new one: both are Unavailable, fast
                    with pytest.raises(Unavailable):
                        await create_agent(deps, owner, CreateAgent(name="refused"))
                assert not await deps.ready()
            finally:
                admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(dbname)))
        # The pool reconnects in the background, backing off; each probe waits up to the pool timeout.
        deadline = time.monotonic() + 30
        while not await deps.ready():
            assert time.monotonic() < deadline, "the pool did not reconnect"
        assert (await create_agent(deps, owner, CreateAgent(name="back"))).name == "back"


async def test_statistics_agree_with_the_seeds_function_to_the_rounding(deps: Deps, migrated_database: str) -> None:
    owner = await _owner(deps)
    agent = await create_agent(deps, owner, CreateAgent(name="rounding"))
    first = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=SHOP_BUDDY))
    await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=first.id))
    for _ in range(31):  # 1 of 32 compiled: 3.125 %, where half-to-even and half-up rounding differ
        await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint={}))

    stats = await get_compilation_stats(deps, owner, GetCompilationStats())

    with psycopg.connect(migrated_database) as conn:
        row = conn.execute("SELECT * FROM get_org_compilation_stats(%s)", [owner.org_id]).fetchone()
    assert row is not None
    assert (stats.total_blueprints, stats.compiled_blueprints, stats.draft_blueprints, stats.failed_blueprints) == row[
        :4
    ]
    assert stats.compilation_rate == float(row[4]) == 3.13


async def test_a_locked_or_slow_database_is_unavailable_within_the_timeouts_and_then_serves_again(
    migrated_database: str, tmp_path: Path
) -> None:
    settings = _settings(
        migrated_database, tmp_path, pool_min_size=1, pool_max_size=2, pool_timeout_s=0.5, statement_timeout_s=1.0
    )
    async with postgres_deps(settings, migrated_database) as deps:
        owner = await _owner(deps)
        agent = await create_agent(deps, owner, CreateAgent(name="held"))
        with psycopg.connect(migrated_database) as holder:  # another client holds the agent's row: writers block
            holder.execute("SELECT 1 FROM org_agents WHERE id = %s FOR UPDATE", [agent.id])
            started = time.monotonic()
            outcomes = await asyncio.gather(
                *(add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint={})) for _ in range(10)),
                return_exceptions=True,
            )
            waited = time.monotonic() - started
            holder.rollback()

        # The two with a connection are cancelled by the statement timeout, the eight queued for one by the pool's.
        assert all(isinstance(o, Unavailable) for o in outcomes), outcomes
        assert waited < 1.0 + 0.5 + 1.5  # statement timeout, then pool timeout, plus slack: bounded, not a hang
        assert (await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint={}))).version == 1
