"""The change feed on a real PostgreSQL: changes made by anyone (here: plain SQL on another connection, as psql or
another service would) reach this process's live cache through migration 0007's (and 0009's, for labels) triggers and
LISTEN/NOTIFY; a dropped listening connection turns the cache off until it listens again."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.postgres.changes import APPLICATION_NAME, apply_notice, follow_changes
from adapters.postgres.migrations import load_migrations, migrate_down
from application.agents import CreateAgent, create_agent
from application.blueprints import (
    AddVersion,
    CompileVersion,
    GetLivePrompt,
    WatchLivePrompt,
    add_version,
    compile_version,
    get_live_prompt,
    watch_live_prompt,
)
from application.deps import Deps
from application.labels import MoveLabel, move_label_to
from application.live_cache import LiveCache
from application.tokens import CreateToken, RevokeToken, authenticate, create_token, revoke_token
from domain.errors import NoLivePrompt
from domain.roles import Principal, Role, Scope
from domain.tokens import secret_hash
from entrypoints.bootstrap import postgres_deps
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings

pytestmark = pytest.mark.anyio

DEADLINE_S = 5.0


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> float:
    """Seconds until `check` holds; fails after DEADLINE_S. Polls: it waits for an event, it asserts no timing."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > DEADLINE_S:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@asynccontextmanager
async def listening(migrated_database: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Deps]:
    """A process's dependencies whose change feed listens."""
    chosen = Settings(database_url=migrated_database, data_dir=tmp_path, **settings)
    async with postgres_deps(chosen, migrated_database) as made:

        async def attached() -> bool:
            return made.live.attached

        await eventually(attached, "the change feed listens")
        yield made


@pytest.fixture
async def deps(migrated_database: str, tmp_path: Path) -> AsyncIterator[Deps]:
    async with listening(migrated_database, tmp_path) as made:
        yield made


async def live_agent(deps: Deps) -> tuple[Principal, Any]:
    issued = await create_token(deps, CreateToken(org_name="acme", user_id="ana", role=Role.OWNER))
    owner = await authenticate(deps, issued.secret)
    assert owner is not None
    agent = await create_agent(deps, owner, CreateAgent(name="shop buddy"))
    version = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))

    async def held() -> bool:
        # The first read may race the notice of our own compile, and is then not kept; a later one is.
        await get_live_prompt(deps, owner, GetLivePrompt(agent_id=agent.id))
        return deps.live.prompt(owner.org_id, agent.id) is not None

    await eventually(held, "the live prompt is held in memory")
    return owner, agent


def serves(
    deps: Deps, who: Principal, agent_id: UUID, *, live: bool, label: str = "production", version: UUID | None = None
) -> Callable[[], Awaitable[bool]]:
    """A check: the label's prompt is served (live; of `version`, when given) or refused as not live."""

    async def check() -> bool:
        try:
            served = await get_live_prompt(deps, who, GetLivePrompt(agent_id=agent_id, label=label))
        except NoLivePrompt:
            return not live
        return live and version in {None, served.blueprint_id}

    return check


def sql(conninfo: str, statement: Any, params: dict[str, Any] | None = None) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement, params)


async def test_a_change_made_elsewhere_is_served_once_its_notice_arrives(deps: Deps, migrated_database: str) -> None:
    owner, agent = await live_agent(deps)
    sql(migrated_database, "UPDATE org_agents SET status = 'deactive' WHERE id = %(id)s", {"id": agent.id})
    await eventually(serves(deps, owner, agent.id, live=False), "the deactivation is served")


async def test_a_token_revoked_elsewhere_stops_working(deps: Deps, migrated_database: str) -> None:
    issued = await create_token(deps, CreateToken(org_name="acme", user_id="bo", role=Role.MEMBER))
    assert await authenticate(deps, issued.secret) is not None  # now held in memory
    assert deps.live.sizes[2] == 1
    sql(migrated_database, "UPDATE agent_api_tokens SET revoked_at = now() WHERE id = %(id)s", {"id": issued.token.id})

    async def refused() -> bool:
        return await authenticate(deps, issued.secret) is None

    await eventually(refused, "the revoked token is refused")


async def test_a_scope_narrowed_from_psql_takes_effect_and_a_recorded_use_announces_nothing(
    deps: Deps, migrated_database: str
) -> None:
    owner, agent = await live_agent(deps)
    issued = await create_token(deps, CreateToken(org_name="acme", user_id="bo", role=Role.MEMBER))
    assert await authenticate(deps, issued.secret) is not None  # now held in memory
    token = {"id": issued.token.id}

    sql(
        migrated_database, "UPDATE agent_api_tokens SET last_used_at = now(), name = 'renamed' WHERE id = %(id)s", token
    )
    sql(migrated_database, "UPDATE org_agents SET status = 'deactive' WHERE id = %(id)s", {"id": agent.id})
    await eventually(serves(deps, owner, agent.id, live=False), "the deactivation, committed after the use, is served")
    assert deps.live.principal(secret_hash(issued.secret)) is not None  # notices come in commit order: none for it

    sql(migrated_database, "UPDATE agent_api_tokens SET scope = 'prompt' WHERE id = %(id)s", token)

    async def narrowed() -> bool:
        found = await authenticate(deps, issued.secret)
        return found is not None and found.scope is Scope.PROMPT

    await eventually(narrowed, "the narrowed scope is served")


async def test_a_dropped_feed_turns_the_cache_off_and_a_new_one_starts_it_empty(
    deps: Deps, migrated_database: str
) -> None:
    owner, agent = await live_agent(deps)
    sql(
        migrated_database,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = %(name)s AND datname = current_database()",
        {"name": APPLICATION_NAME},
    )
    # Changed while no notice can reach this process: it must not serve what it held before.
    sql(migrated_database, "UPDATE org_agents SET status = 'deactive' WHERE id = %(id)s", {"id": agent.id})
    await eventually(serves(deps, owner, agent.id, live=False), "the change made while the feed was down is served")

    async def listening_again() -> bool:
        return deps.live.attached

    await eventually(listening_again, "the feed reconnects")
    sql(migrated_database, "UPDATE org_agents SET status = 'active' WHERE id = %(id)s", {"id": agent.id})
    await eventually(serves(deps, owner, agent.id, live=True), "the reconnected feed reports changes again")


async def test_without_the_change_triggers_nothing_is_ever_cached(migrated_database: str) -> None:
    migrations = load_migrations()
    while (undone := migrate_down(migrated_database, migrations)) is not None and undone.version > 7:
        pass  # undo the migrations after 0007, then 0007 itself
    assert undone is not None
    assert undone.name == "0007_notify_live_changes"
    cache = LiveCache()
    await asyncio.wait_for(follow_changes(migrated_database, cache), DEADLINE_S)  # gives up at once
    assert not cache.attached


async def labelled_agent(deps: Deps) -> tuple[Principal, Any, UUID, UUID]:
    """A live agent whose label `staging` names v1 and is held in memory; v2 compiled beside it."""
    owner, agent = await live_agent(deps)
    v1 = (await get_live_prompt(deps, owner, GetLivePrompt(agent_id=agent.id))).blueprint_id
    v2 = await add_version(deps, owner, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, owner, CompileVersion(agent_id=agent.id, version_id=v2.id))
    await move_label_to(deps, owner, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=v1))

    async def held() -> bool:
        await get_live_prompt(deps, owner, GetLivePrompt(agent_id=agent.id, label="staging"))
        return deps.live.prompt(owner.org_id, agent.id, "staging") is not None

    await eventually(held, "the staging prompt is held in memory")
    return owner, agent, v1, v2.id


async def test_a_label_moved_from_psql_is_served_once_its_notice_arrives(deps: Deps, migrated_database: str) -> None:
    owner, agent, v1, v2 = await labelled_agent(deps)
    where = {"agent": agent.id, "v1": v1, "v2": v2}

    sql(migrated_database, "UPDATE agent_labels SET blueprint_id = %(v2)s WHERE agent_id = %(agent)s", where)
    await eventually(serves(deps, owner, agent.id, live=True, label="staging", version=v2), "the UPDATE is served")

    with psycopg.connect(migrated_database) as conn:  # one transaction: the label deleted and made again
        conn.execute("DELETE FROM agent_labels WHERE agent_id = %(agent)s AND name = 'staging'", where)
        conn.execute(
            "INSERT INTO agent_labels (agent_id, name, blueprint_id, moved_by) VALUES (%(agent)s, 'staging', %(v1)s,"
            " 'psql')",
            where,
        )
    await eventually(serves(deps, owner, agent.id, live=True, label="staging", version=v1), "the INSERT is served")

    sql(migrated_database, "DELETE FROM agent_labels WHERE agent_id = %(agent)s", where)
    await eventually(serves(deps, owner, agent.id, live=False, label="staging"), "the DELETE is served")
    assert await serves(deps, owner, agent.id, live=True, version=v1)()  # production is no row of agent_labels


async def test_truncating_the_labels_forgets_everything_held(deps: Deps, migrated_database: str) -> None:
    owner, agent, v1, _ = await labelled_agent(deps)

    sql(migrated_database, "TRUNCATE agent_labels")

    await eventually(serves(deps, owner, agent.id, live=False, label="staging"), "the TRUNCATE is served")
    assert deps.live.attached
    assert await serves(deps, owner, agent.id, live=True, version=v1)()


async def test_a_label_moved_from_psql_answers_a_watch_held_here(deps: Deps, migrated_database: str) -> None:
    owner, agent, v1, v2 = await labelled_agent(deps)
    cmd = WatchLivePrompt(agent_id=agent.id, label="staging", wait_s=30)
    waiting = asyncio.create_task(watch_live_prompt(deps, owner, cmd, lambda live: live.blueprint_id == v1))

    async def held() -> bool:
        return deps.live.watching == 1

    await eventually(held, "the watch is held")
    sql(
        migrated_database,
        "UPDATE agent_labels SET blueprint_id = %(v2)s WHERE agent_id = %(agent)s",
        {"agent": agent.id, "v2": v2},
    )

    assert (await asyncio.wait_for(waiting, DEADLINE_S)).blueprint_id == v2
    assert deps.live.watching == 0


@pytest.mark.parametrize("how", ["0009 undone", "its trigger dropped"])
async def test_without_the_label_trigger_nothing_is_ever_cached(migrated_database: str, how: str) -> None:
    if how == "0009 undone":
        migrations = load_migrations()
        while (undone := migrate_down(migrated_database, migrations)) is not None and undone.version > 9:
            pass  # undo the migrations after 0009, then 0009 itself
        assert undone is not None
        assert undone.name == "0009_add_release_labels"
    else:
        sql(migrated_database, "DROP TRIGGER agent_labels_notify_change ON agent_labels")
    cache = LiveCache()
    await asyncio.wait_for(follow_changes(migrated_database, cache), DEADLINE_S)  # gives up at once
    assert not cache.attached


def test_notices_name_what_changed_and_anything_unknown_forgets_everything() -> None:
    cache = LiveCache()
    cache.attach()
    ticket = cache.ticket()
    apply_notice(cache, "token:00000000-0000-0000-0000-000000000001")
    apply_notice(cache, "agent:00000000-0000-0000-0000-000000000002")
    assert cache.ticket() == ticket + 2
    for payload in ("reset", "agent:not-a-uuid", "something:else"):
        before = cache.ticket()
        apply_notice(cache, payload)
        assert cache.ticket() > before


def revoke_unannounced(conninfo: str, token_id: UUID) -> None:
    """A revocation no trigger sees (as a restore, replica mode or `DISABLE TRIGGER` writes it): no notice is sent."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("UPDATE agent_api_tokens SET revoked_at = now() WHERE id = %(id)s", {"id": token_id})


async def test_a_revocation_that_sends_no_notice_still_takes_effect_within_the_principals_lifetime(
    migrated_database: str, tmp_path: Path
) -> None:
    lifetime_s = 1.0
    async with listening(migrated_database, tmp_path, token_cache_s=lifetime_s) as deps:
        issued = await create_token(deps, CreateToken(org_name="acme", user_id="bo", role=Role.MEMBER))
        assert await authenticate(deps, issued.secret) is not None
        held_since = time.monotonic()  # the principal is now in memory, for at most lifetime_s from here
        revoke_unannounced(migrated_database, issued.token.id)
        assert await authenticate(deps, issued.secret) is not None  # no notice came: memory still answers

        async def refused() -> bool:
            return await authenticate(deps, issued.secret) is None

        await eventually(refused, "the revoked token is refused")
        assert time.monotonic() - held_since < lifetime_s + 1.0, "held past its lifetime"


async def test_revoking_an_already_revoked_token_again_announces_it_to_every_process(
    migrated_database: str, tmp_path: Path
) -> None:
    async with (
        listening(migrated_database, tmp_path, token_cache_s=3600) as deps,
        listening(migrated_database, tmp_path) as operator,  # another process: the CLI, another instance
    ):
        issued = await create_token(deps, CreateToken(org_name="acme", user_id="bo", role=Role.MEMBER))
        assert await authenticate(deps, issued.secret) is not None
        revoke_unannounced(migrated_database, issued.token.id)
        assert await authenticate(deps, issued.secret) is not None

        again = await revoke_token(operator, RevokeToken(token_id=issued.token.id))
        assert again.revoked_at is not None

        async def refused() -> bool:
            return await authenticate(deps, issued.secret) is None

        await eventually(refused, "the repeated revocation reaches the other process")
