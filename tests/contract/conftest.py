"""The contract suite: every test here runs against each storage adapter, and must pass unchanged on both.

`deps` is the application's dependencies on the memory adapter or on PostgreSQL (a migrated database, emptied
before each test). On PostgreSQL the live cache follows the change feed only in tests marked `live_cache` (it costs a
listening connection per test, and the cache is transparent to everything else); the memory adapter's cache is always
on. Principals are made the way requests get them: a token is minted and resolved.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from application.deps import Deps
from application.ports import TokenStore
from application.tokens import CreateToken, authenticate, create_token
from domain.roles import Principal, Role
from entrypoints import bootstrap
from entrypoints.settings import Settings
from tests.doubles import FixedClock, SequentialIds


def empty(conninfo: str) -> None:
    """Deletes every row of every table but the migrations' record: what a test left, whatever table it is in.
    DELETE with the foreign keys' triggers off (replica mode) is ten times faster than TRUNCATE on tables this small
    (7 ms against 70), and this runs before every PostgreSQL test."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'agent_schema_migrations'"
        )]  # fmt: skip
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))


@pytest.fixture(params=["memory", "postgres"])
def deps(request: pytest.FixtureRequest) -> Deps:  # sync on purpose: it may not await the async fixture
    if request.param == "memory":
        return bootstrap.memory_deps(clock=FixedClock(), ids=SequentialIds())
    made: Deps = request.getfixturevalue("postgres_deps")
    return made


@pytest.fixture
async def postgres_deps(
    request: pytest.FixtureRequest, shared_migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deps]:
    empty(shared_migrated_database)
    settings = Settings(database_url=shared_migrated_database, data_dir=tmp_path_factory.mktemp("unused"))
    follow = request.node.get_closest_marker("live_cache") is not None
    async with bootstrap.postgres_deps(
        settings, shared_migrated_database, clock=FixedClock(), ids=SequentialIds(), follow_changes=follow
    ) as made:
        yield made


async def principal(deps: Deps, org: str, user: str, role: Role) -> Principal:
    """A caller of organization `org`, made as a request makes one: mint a token, resolve it."""
    issued = await create_token(deps, CreateToken(org_name=org, user_id=user, role=role))
    resolved = await authenticate(deps, issued.secret)
    assert resolved is not None
    return resolved


class CountedTokens:
    """The adapter's token store with `resolve` replaced (by a counting one); everything else is the adapter's."""

    def __init__(self, inner: TokenStore, resolve: Callable[[bytes], Awaitable[Principal | None]]) -> None:
        self._inner = inner
        self.resolve = resolve

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
