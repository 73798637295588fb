"""Shared pytest setup.

Async tests run on asyncio through anyio's plugin. Tests that need PostgreSQL ask for `database` (a fresh, empty
database each) or `pg_admin` (a maintenance connection string): with ORG_AGENTS_TEST_DATABASE_URL set they use that
server, otherwise one embedded server started for the session in a temporary directory. Such tests are marked
`postgres` automatically, so `pytest -m postgres` runs exactly them.
"""

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.embedded_postgres import embedded_postgres

POSTGRES_FIXTURES = {
    "pg_admin",
    "database",
    "migrated_database",
    "shared_migrated_database",
    "postgres_deps",
    "through_pgbouncer",
}

# Durability is not under test here; the server's crash safety is PostgreSQL's, not ours.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.hookimpl(trylast=True)  # after pytest-xdist has marked the grouped tests' ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("deps") == "postgres"
        if on_postgres or POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
    # The long tests first (each takes seconds: servers, browsers, storms), so that the quick ones fill both
    # workers at the end instead of one worker finishing a long one alone; otherwise in the order collected.
    items.sort(key=lambda item: not (item.get_closest_marker("slow") or item.get_closest_marker("browser")))
    # Under `--dist=loadgroup`, pytest-xdist marks each grouped test's id with its group, and the group then runs
    # whole on one worker, its module's costly fixtures made once. Should it stop doing so (pytest 9.2 did that to
    # xdist 3.8: pyproject.toml), the suite would still pass, only much slower: so it refuses to run.
    if config.getoption("loadgroup", default=False):
        lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
        if lost:
            raise pytest.UsageError(f"pytest-xdist no longer groups the tests marked xdist_group, e.g. {lost[0]}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def private_tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="org-agents-tests-"))
    let_the_server_user_through(root)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tmp_path(private_tmp_root: Path, request: pytest.FixtureRequest) -> Path:
    """A new directory per test, as pytest's, but outside pytest's base directory: under root the embedded PostgreSQL
    runs as another user, which must traverse the path to its data directory, and pytest takes the search bit away
    from /tmp/pytest-of-root whenever a process of the run first asks for a temporary directory (under xdist, a
    worker may do so while another's server is starting). Removed with the rest at the end of the run."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:24]
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=private_tmp_root))
    let_the_server_user_through(path)
    return path


def let_the_server_user_through(path: Path) -> None:
    """Under root, search (not read) for everyone on a test's directory: the launcher refuses a data directory
    that its server user cannot reach, and never opens up the directories above one itself."""
    if os.geteuid() == 0:
        path.chmod(0o711)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    """A connection string to a maintenance database of the test server; tests create their own databases."""
    url = os.environ.get("ORG_AGENTS_TEST_DATABASE_URL")
    if url:
        yield url
        return
    data_dir = Path(tempfile.mkdtemp(prefix="org-agents-test-pg-"))
    try:
        with embedded_postgres(data_dir, dbname="postgres", settings=FAST_SETTINGS) as conninfo:
            yield conninfo
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def through_pgbouncer(pg_admin: str) -> Iterator[str]:
    """Debian's PgBouncer in transaction pooling mode in front of the test server (tests/pgbouncer.py)."""
    from tests.pgbouncer import pgbouncer

    with pgbouncer(pg_admin) as through:
        yield through


def database_conninfo(admin: str, dbname: str) -> str:
    return make_conninfo(admin, dbname=dbname)


def create_database(admin: str, name: str, *, template: str | None = None) -> None:
    """A new database whose commits do not wait for the disk (on the machine's server too, as FAST_SETTINGS do for
    the embedded one): durability is PostgreSQL's, and the crash test checks ours on a server of its own. With
    `template`, a copy of that database."""
    with psycopg.connect(admin, autocommit=True) as conn:
        copied = sql.SQL(" TEMPLATE {}").format(sql.Identifier(template)) if template else sql.SQL("")
        conn.execute(sql.SQL("CREATE DATABASE {}{}").format(sql.Identifier(name), copied))
        conn.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def migrated_template(pg_admin: str) -> Iterator[str]:
    """A database every migration was applied to, once per test process, which `migrated_database` copies: a copy
    takes a fraction of applying them all again (tests/integration/test_migrations.py applies them itself)."""
    from adapters.postgres.migrations import load_migrations, migrate_up

    name = f"oa_template_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    try:
        migrate_up(database_conninfo(pg_admin, name), load_migrations())
        yield name
    finally:
        drop_database(pg_admin, name)


@pytest.fixture
def database(pg_admin: str) -> Iterator[str]:
    """A new, empty database for one test, dropped afterwards."""
    name = f"oa_test_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    try:
        yield database_conninfo(pg_admin, name)
    finally:
        drop_database(pg_admin, name)


@pytest.fixture
def migrated_database(pg_admin: str, migrated_template: str) -> Iterator[str]:
    """A new database with every migration applied (a copy of `migrated_template`), dropped afterwards."""
    name = f"oa_test_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name, template=migrated_template)
    try:
        yield database_conninfo(pg_admin, name)
    finally:
        drop_database(pg_admin, name)


@pytest.fixture(scope="session")
def shared_migrated_database(pg_admin: str) -> Iterator[str]:
    """One migrated database for the whole run, for tests that empty it themselves (the contract suite)."""
    from adapters.postgres.migrations import load_migrations, migrate_up

    name = f"oa_shared_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    try:
        conninfo = database_conninfo(pg_admin, name)
        migrate_up(conninfo, load_migrations())
        yield conninfo
    finally:
        drop_database(pg_admin, name)


def database_url_env(conninfo: str) -> dict[str, str]:
    """The environment for a child `org-agents` process that should use this database."""
    env = {k: v for k, v in os.environ.items() if k != "ORG_AGENTS_TEST_DATABASE_URL"}
    env["DATABASE_URL"] = conninfo
    return env
