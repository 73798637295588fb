"""The bench's own database: a fresh embedded PostgreSQL by default, or a fresh database on DATABASE_URL's server.

With DATABASE_URL, the bench connects to that server's `postgres` database, creates `org_agents_bench_<pid>`,
runs everything there and drops it at the end (the role needs CREATEDB); the database DATABASE_URL names is never
touched.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.embedded_postgres import embedded_postgres
from adapters.postgres.migrations import load_migrations, migrate_up
from bench.model import VersionCheck

SETTLE_TIMEOUT_S: Final = 30.0
POLL_S: Final = 0.05


class BenchDatabaseError(RuntimeError):
    """The bench's database could not be prepared, or did not settle; the message says why."""


@contextmanager
def bench_database(tmp: Path, database_url: str | None) -> Iterator[tuple[str, str]]:
    """Yields (conninfo, kind) of an empty database with the migrations applied; kind is "embedded" or
    "DATABASE_URL". The database is gone afterwards (the embedded server stops, or the database is dropped)."""
    if database_url:
        with _scratch_database(database_url) as conninfo:
            migrate_up(conninfo, load_migrations(), log=lambda _: None)
            yield conninfo, "DATABASE_URL"
        return
    with embedded_postgres(tmp / "postgres") as conninfo:
        migrate_up(conninfo, load_migrations(), log=lambda _: None)
        yield conninfo, "embedded"


@contextmanager
def _scratch_database(database_url: str) -> Iterator[str]:
    name = f"org_agents_bench_{os.getpid()}"
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(database_url, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_version(conninfo: str) -> str:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def versions_of(conninfo: str, agent_id: UUID) -> VersionCheck:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return _versions(conn, agent_id)


def _versions(conn: psycopg.Connection[Any], agent_id: UUID) -> VersionCheck:
    row = conn.execute(
        "SELECT count(*), min(version), max(version) FROM agent_blueprints WHERE agent_id = %s", [agent_id]
    ).fetchone()
    if row is None:
        raise BenchDatabaseError("an aggregate returned no row")
    return VersionCheck(count=row[0], min_version=row[1], max_version=row[2])


# The service's pool names its connections "org-agents" (adapters/postgres/pool.py).
SERVICE_BUSY: Final = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'org-agents' AND pid <> pg_backend_pid()
      AND state IS DISTINCT FROM 'idle'
"""


def settled_versions_of(conninfo: str, agent_id: UUID) -> VersionCheck:
    """The agent's versions once the service has finished what was in flight when the load stopped: polls until no
    service connection is busy and two readings in a row agree."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with psycopg.connect(conninfo, autocommit=True) as conn:
        previous: VersionCheck | None = None
        while True:
            busy_row = conn.execute(SERVICE_BUSY).fetchone()
            busy = busy_row[0] if busy_row else 0
            current = _versions(conn, agent_id)
            if busy == 0 and current == previous:
                return current
            if time.monotonic() > deadline:
                raise BenchDatabaseError(f"the service was still writing {SETTLE_TIMEOUT_S:.0f} s after the load")
            previous = current
            time.sleep(POLL_S)
