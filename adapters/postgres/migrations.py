"""The migration runner: ordered plain-SQL files, each applied once, in its own transaction, under an advisory lock.

Files are `migrations/NNNN_slug.sql` with `NNNN_slug.down.sql` beside them. Applied files are recorded in
`agent_schema_migrations` with a SHA-256 of their text; a file edited after it was applied is refused, and so is a
database that has applied files this code does not know (it is newer than the code).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import psycopg
from psycopg.rows import dict_row

if TYPE_CHECKING:
    from datetime import datetime

# Any fixed bigint unique to this service; every deployer takes it before reading or writing the schema.
LOCK_KEY: Final = 0x6F7267_6167656E  # "org" "agen"

CREATE_TRACKING_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS agent_schema_migrations (
        version      INTEGER     PRIMARY KEY,
        name         TEXT        NOT NULL,
        checksum     TEXT        NOT NULL,
        applied_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        execution_ms INTEGER     NOT NULL
    )
"""
TRACKING_TABLE_EXISTS: Final = "SELECT to_regclass('agent_schema_migrations') IS NOT NULL AS present"
SELECT_APPLIED: Final = "SELECT version, name, checksum, applied_at FROM agent_schema_migrations ORDER BY version"
INSERT_APPLIED: Final = """
    INSERT INTO agent_schema_migrations (version, name, checksum, execution_ms)
    VALUES (%(version)s, %(name)s, %(checksum)s, %(execution_ms)s)
"""
DELETE_APPLIED: Final = "DELETE FROM agent_schema_migrations WHERE version = %(version)s"

FILE_NAME: Final = re.compile(r"^(?P<version>\d{4})_(?P<slug>[a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """The migrations cannot run as asked; the message names the files and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the up file's name without .sql, e.g. 0002_create_org_agents_schema
    up_sql: str
    down_sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_sql.encode()).hexdigest()


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True)
class Status:
    applied: list[tuple[Migration, Applied]]
    pending: list[Migration]
    modified: list[Migration]  # applied, but the file changed since
    unknown: list[Applied]  # applied, but no such file here: the database is newer than this code

    @property
    def problems(self) -> list[str]:
        return [f"{m.name}.sql was edited after it was applied" for m in self.modified] + [
            f"{a.name} is applied but this code has no such migration (the database is newer than the code)"
            for a in self.unknown
        ]


def load_migrations(package: str = "migrations") -> list[Migration]:
    """Every migration shipped in `package`, in order; refuses gaps, duplicates and missing down files."""
    files = {entry.name: entry for entry in importlib.resources.files(package).iterdir() if entry.is_file()}
    found: list[Migration] = []
    for file_name in sorted(files):
        match = FILE_NAME.match(file_name)
        if match is None:
            continue
        name = file_name.removesuffix(".sql")
        down = files.get(f"{name}.down.sql")
        if down is None:
            raise MigrationError(f"{file_name} has no {name}.down.sql")
        found.append(Migration(int(match["version"]), name, files[file_name].read_text(), down.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3 ... without gaps or duplicates; found {versions}")
    return found


Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@contextmanager
def _connected(conninfo: str) -> Iterator[psycopg.Connection[dict[str, object]]]:
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row, prepare_threshold=None) as conn:
        yield conn


@contextmanager
def _locked(conn: psycopg.Connection[dict[str, object]]) -> Iterator[None]:
    """One transaction holding the deployers' lock: a lock of the transaction, not of the session, so that it holds
    behind PgBouncer in transaction pooling mode too (where a session's next statement may run elsewhere)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        yield


def _applied(conn: psycopg.Connection[dict[str, object]]) -> list[Applied]:
    present = conn.execute(TRACKING_TABLE_EXISTS).fetchone()
    if not present or not present["present"]:
        return []
    return [
        Applied(int(str(row["version"])), str(row["name"]), str(row["checksum"]), row["applied_at"])  # type: ignore[arg-type]
        for row in conn.execute(SELECT_APPLIED)
    ]


def _status(conn: psycopg.Connection[dict[str, object]], migrations: list[Migration]) -> Status:
    applied = {a.version: a for a in _applied(conn)}
    by_version = {m.version: m for m in migrations}
    return Status(
        applied=[(m, applied[m.version]) for m in migrations if m.version in applied],
        pending=[m for m in migrations if m.version not in applied],
        modified=[m for m in migrations if m.version in applied and applied[m.version].checksum != m.checksum],
        unknown=[a for v, a in sorted(applied.items()) if v not in by_version],
    )


def status(conninfo: str, migrations: list[Migration]) -> Status:
    with _connected(conninfo) as conn, _locked(conn):
        return _status(conn, migrations)


def _refuse_problems(state: Status) -> None:
    if state.problems:
        raise MigrationError("refusing to migrate:\n  " + "\n  ".join(state.problems))


def migrate_up(conninfo: str, migrations: list[Migration], log: Log = _quiet) -> list[Migration]:
    """Applies every pending migration in order, each in its own transaction under the lock (which reads again
    what is applied: another deployer may have applied some meanwhile); returns what it applied."""
    applied: list[Migration] = []
    with _connected(conninfo) as conn:
        with _locked(conn):
            conn.execute(CREATE_TRACKING_TABLE)
        while True:
            with _locked(conn):
                state = _status(conn, migrations)
                _refuse_problems(state)
                if not state.pending:
                    return applied
                migration = state.pending[0]
                started = time.perf_counter()
                conn.execute(migration.up_sql.encode())
                elapsed_ms = round((time.perf_counter() - started) * 1000)
                conn.execute(
                    INSERT_APPLIED,
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "checksum": migration.checksum,
                        "execution_ms": elapsed_ms,
                    },
                )
            applied.append(migration)
            log(f"applied {migration.name} ({elapsed_ms} ms)")


def migrate_down(conninfo: str, migrations: list[Migration], log: Log = _quiet) -> Migration | None:
    """Undoes the last applied migration in one transaction; returns it, or None when nothing is applied."""
    with _connected(conninfo) as conn:
        with _locked(conn):
            state = _status(conn, migrations)
            _refuse_problems(state)
            if not state.applied:
                return None
            migration, _ = state.applied[-1]
            conn.execute(migration.down_sql.encode())
            conn.execute(DELETE_APPLIED, {"version": migration.version})
        log(f"undid {migration.name}")
        return migration
