"""The contract suite: every test here runs against each storage adapter, and must pass unchanged on both.

`deps` is the application's dependencies on the memory adapter or on PostgreSQL (a migrated database, emptied
before each test). Principals are made the way requests get them: a token is minted and resolved.
"""

from collections.abc import AsyncIterator

import psycopg
import pytest

from application.tokens import CreateToken, authenticate, create_token
from domain.roles import Principal, Role
from entrypoints.bootstrap import Services, memory_services, postgres_services
from entrypoints.settings import Settings
from tests.doubles import FixedClock, SequentialIds

TABLES = (
    "agent_idempotency_keys, agent_audit_events, agent_blueprints, org_agents, agent_api_tokens, agent_organizations"
)


@pytest.fixture(params=["memory", "postgres"])
def deps(request: pytest.FixtureRequest) -> Services:  # sync on purpose: it may not await the async fixture
    if request.param == "memory":
        return memory_services(clock=FixedClock(), ids=SequentialIds())
    services: Services = request.getfixturevalue("postgres_deps")
    return services


@pytest.fixture
async def postgres_deps(
    shared_migrated_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Services]:
    with psycopg.connect(shared_migrated_database, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} CASCADE")
    settings = Settings(database_url=shared_migrated_database, data_dir=tmp_path_factory.mktemp("unused"))
    async with postgres_services(
        settings, shared_migrated_database, clock=FixedClock(), ids=SequentialIds()
    ) as services:
        yield services


async def principal(deps: Services, org: str, user: str, role: Role) -> Principal:
    """A caller of organization `org`, made as a request makes one: mint a token, resolve it."""
    issued = await create_token(deps, CreateToken(org_name=org, user_id=user, role=role))
    resolved = await authenticate(deps, issued.secret)
    assert resolved is not None
    return resolved
