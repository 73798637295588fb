"""Behind PgBouncer in transaction pooling mode (issue 19, item 5), as many deployments run PostgreSQL: the
contract suite again (all of it but the two modules named below), its storage reached through Debian's PgBouncer
with `ORG_AGENTS_PGBOUNCER=1` (nothing prepared on the server, no session settings), the change feed's LISTEN on a
direct connection (`ORG_AGENTS_LISTEN_URL`); and the migrations, which must hold their lock per transaction there.
Without the setting, the suite fails here at once (a prepared statement of one client found on another's server
connection)."""

import importlib
import pkgutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tests.contract
from adapters.postgres.migrations import load_migrations, migrate_up, status
from application.deps import Deps
from entrypoints import bootstrap
from entrypoints.settings import Settings
from tests.contract.conftest import empty
from tests.contract.test_webhooks import hook, hooks, sender  # noqa: F401 (fixtures of tests collected below)
from tests.doubles import FixedClock, SequentialIds
from tests.pgbouncer import via

# The contract suite, collected here a second time with this module's `deps`: every module but two whose reads every
# other module's tests run as well (an organization's agents and tenancy: plain reads, nothing PgBouncer changes).
# CI time: those two are a third of the suite.
ALSO_RUN_ELSEWHERE = frozenset({"test_agents", "test_tenancy"})
for _info in pkgutil.iter_modules(tests.contract.__path__):
    if _info.name.startswith("test_") and _info.name not in ALSO_RUN_ELSEWHERE:
        _module = importlib.import_module(f"tests.contract.{_info.name}")
        globals().update({name: test for name, test in vars(_module).items() if name.startswith("test_")})

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
async def deps(
    request: pytest.FixtureRequest, shared_migrated_database: str, through_pgbouncer: str
) -> AsyncIterator[Deps]:
    empty(shared_migrated_database)
    pooled = via(through_pgbouncer, shared_migrated_database)
    settings = Settings(
        database_url=pooled, data_dir=Path("/nonexistent"), pgbouncer=True, listen_url=shared_migrated_database
    )
    follow = request.node.get_closest_marker("live_cache") is not None
    async with bootstrap.postgres_deps(
        settings, pooled, clock=FixedClock(), ids=SequentialIds(), follow_changes=follow
    ) as made:
        yield made


@pytest.fixture
def postgres_deps(deps: Deps) -> Deps:
    """The tests that run on PostgreSQL only: through PgBouncer too."""
    return deps


def test_deployers_at_once_through_pgbouncer_apply_each_migration_once(database: str, through_pgbouncer: str) -> None:
    """The migrations' lock is the transaction's: a session's lock would be left on a server connection PgBouncer
    hands to someone else."""
    pooled, migrations = via(through_pgbouncer, database), load_migrations()
    with ThreadPoolExecutor(4) as deployers:
        runs = list(deployers.map(lambda _: migrate_up(pooled, migrations), range(4)))
    applied = sorted(m.name for run in runs for m in run)
    assert applied == [m.name for m in migrations]  # each file once, by whichever deployer got to it
    state = status(pooled, migrations)
    assert (state.pending, state.problems) == ([], [])
