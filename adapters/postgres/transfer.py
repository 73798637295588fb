"""One organization read whole (a server-side cursor per table, in one REPEATABLE READ snapshot) and written whole (COPY
per table, in one transaction), for `org-agents export|import`.

Loading goes in the order the schema's guards allow without switching any off: the organization, its agents (without
their production), their versions (compiled ones inserted compiled: migrations 0003 and 0010 guard UPDATEs of a
version, and nothing is updated), then production (`current_blueprint_id`, whose foreign key needs the version), the
labels and their history (their keys need the versions), the audit trail, and what was loaded as the organization's
usage (0016's counts, by slot, counted as the rows were copied). Every trigger runs: the change feed's
(0007, 0009) announce the new agents' production and labels to running services when the import commits.
"""

import itertools
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Final, LiteralString, TypeVar
from uuid import UUID

import msgspec
import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from adapters.postgres.pool import use_msgspec_json
from adapters.postgres.session import translated_errors
from adapters.postgres.usage import ADD_USAGE, slot_of, usage_params
from application.transfer import (
    AgentRecord,
    ArchiveCounts,
    ArchiveRecord,
    AuditRecord,
    ExportRefused,
    ImportRefused,
    LabelMoveRecord,
    LabelRecord,
    OrganizationRecord,
    VersionRecord,
)
from domain.agents import AgentStatus
from domain.errors import UnknownOrganization

SELECT_ORGANIZATION: Final = "SELECT id, name, created_at FROM agent_organizations WHERE name = %(name)s"
COUNT_RECORDS: Final = """
    SELECT (SELECT count(*) FROM org_agents WHERE org_id = %(org_id)s) AS agents,
           (SELECT count(*) FROM agent_blueprints b JOIN org_agents a ON a.id = b.agent_id
            WHERE a.org_id = %(org_id)s) AS versions,
           (SELECT count(*) FROM agent_labels l JOIN org_agents a ON a.id = l.agent_id
            WHERE a.org_id = %(org_id)s) AS labels,
           (SELECT count(*) FROM agent_label_moves m JOIN org_agents a ON a.id = m.agent_id
            WHERE a.org_id = %(org_id)s) AS label_moves,
           (SELECT count(*) FROM agent_audit_events WHERE org_id = %(org_id)s) AS audit_events
"""
EXPORT_AGENTS: Final = """
    SELECT id, agent_id AS number, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s
    ORDER BY agent_id
"""
# Documents and details as jsonb's own text: copied verbatim, numbers never pass through a float.
EXPORT_VERSIONS: Final = """
    SELECT b.id, b.agent_id, b.version, b.created_by, b.created_at, b.conversation_id, b.message,
           b.agent_blueprint::text AS agent_blueprint, b.compilation_status, b.compiled_system_prompt, b.compiled_at,
           b.compiled_by, b.compiler_version, b.compile_errors, b.compile_warnings
    FROM agent_blueprints b JOIN org_agents a ON a.id = b.agent_id
    WHERE a.org_id = %(org_id)s
    ORDER BY a.agent_id, b.version
"""
EXPORT_LABELS: Final = """
    SELECT l.agent_id, l.name, l.blueprint_id, l.protected, l.moved_at, l.moved_by
    FROM agent_labels l JOIN org_agents a ON a.id = l.agent_id
    WHERE a.org_id = %(org_id)s
    ORDER BY a.agent_id, l.name COLLATE "C"
"""
EXPORT_LABEL_MOVES: Final = """
    SELECT m.agent_id, m.name, m.seq, m.blueprint_id, m.version, m.previous_blueprint_id, m.previous_version,
           m.moved_by, m.moved_at
    FROM agent_label_moves m JOIN org_agents a ON a.id = m.agent_id
    WHERE a.org_id = %(org_id)s
    ORDER BY a.agent_id, m.name COLLATE "C", m.seq
"""
EXPORT_AUDIT_EVENTS: Final = """
    SELECT id, occurred_at, actor, action, target_id, agent_id, details::text AS details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s
    ORDER BY occurred_at, id
"""
# The organization is held until the import ends, so two imports into it queue rather than both find it empty.
FIND_ORGANIZATION_FOR_UPDATE: Final = """
    SELECT o.id, (SELECT count(*) FROM org_agents a WHERE a.org_id = o.id) AS agents
    FROM agent_organizations o
    WHERE o.name = %(name)s
    FOR UPDATE
"""
INSERT_ORGANIZATION: Final = """
    INSERT INTO agent_organizations (id, name, created_at) VALUES (%(id)s, %(name)s, %(created_at)s)
"""
COPY_AGENTS: Final = """
    COPY org_agents (id, agent_id, org_id, name, description, status, created_by, created_at, updated_at)
    FROM STDIN
"""
COPY_VERSIONS: Final = """
    COPY agent_blueprints (id, agent_id, version, created_by, created_at, conversation_id, message, agent_blueprint,
                          compilation_status, compiled_system_prompt, compiled_at, compiled_by, compiler_version,
                          compile_errors, compile_warnings)
    FROM STDIN
"""
COPY_LABELS: Final = """
    COPY agent_labels (agent_id, name, blueprint_id, protected, moved_at, moved_by) FROM STDIN
"""
COPY_LABEL_MOVES: Final = """
    COPY agent_label_moves (agent_id, name, seq, blueprint_id, version, previous_blueprint_id, previous_version,
                            moved_by, moved_at)
    FROM STDIN
"""
COPY_AUDIT_EVENTS: Final = """
    COPY agent_audit_events (id, org_id, occurred_at, actor, action, target_id, agent_id, details) FROM STDIN
"""
SET_PRODUCTION: Final = """
    UPDATE org_agents SET current_blueprint_id = %(current_blueprint_id)s, updated_at = %(updated_at)s
    WHERE org_id = %(org_id)s AND id = %(id)s
"""
# Agents created after the import continue after its numbers (the identity would hand them out again otherwise).
# setval is not undone by a rollback, so it runs last; at worst a refused commit skips some numbers.
ADVANCE_AGENT_NUMBERS: Final = """
    SELECT setval(pg_get_serial_sequence('org_agents', 'agent_id'),
                  GREATEST(nextval(pg_get_serial_sequence('org_agents', 'agent_id')), %(number)s))
"""
# The whole load is bounded by the data, not by the service's per-request limit; a lock held elsewhere still stops it.
LIMITS: Final = "SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', %(lock_timeout)s, true)"
IN_UTC: Final = "SELECT set_config('TimeZone', 'UTC', true)"

R = TypeVar("R")
BATCH: Final = 500  # rows per fetch of a server-side cursor
TAKEN: Final = {
    "agent_organizations_pkey": "organization id",
    "agent_organizations_name_key": "organization name",
    "org_agents_pkey": "agent id",
    "org_agents_agent_id_key": "agent number",
    "agent_blueprints_pkey": "version id",
    "agent_audit_events_pkey": "audit event id",
}
KEY_DETAIL: Final = re.compile(r"Key \((?P<columns>.*)\)=\((?P<values>.*)\) already exists\.?")


def _taken(exc: errors.UniqueViolation) -> ImportRefused:
    """Names what collides: 'agent number 7 already exists in this database'."""
    detail = exc.diag.message_detail or ""
    found = KEY_DETAIL.fullmatch(detail)
    what = TAKEN.get(exc.diag.constraint_name or "", f"a key of {exc.diag.table_name or 'a table'}")
    value = found["values"] if found else detail
    return ImportRefused(f"{what} {value} already exists in this database")


def _record(row: dict[str, Any], kind: type[R]) -> R:
    """A row as its record; one the records cannot hold (written by hand, say) is named, not skipped."""
    try:
        return msgspec.convert(row, kind)
    except msgspec.ValidationError as exc:
        key = row.get("id") or f"{row.get('agent_id')}/{row.get('name')}/{row.get('seq', '')}"
        raise ExportRefused(f"{kind.__name__} {key} cannot be exported as stored: {exc}") from exc


class PostgresArchiveSnapshot:
    def __init__(self, conn: psycopg.AsyncConnection[Any], organization: OrganizationRecord,
                 counts: ArchiveCounts) -> None:  # fmt: skip
        self._conn = conn
        self.organization = organization
        self.counts = counts

    async def records(self) -> AsyncGenerator[ArchiveRecord, None]:
        params = {"org_id": self.organization.id}
        async with translated_errors():
            async for row in self._rows("export_agents", EXPORT_AGENTS, params):
                yield _record(row, AgentRecord)
            async for row in self._rows("export_versions", EXPORT_VERSIONS, params):
                row["agent_blueprint"] = msgspec.Raw(row["agent_blueprint"])
                yield _record(row, VersionRecord)
            async for row in self._rows("export_labels", EXPORT_LABELS, params):
                yield _record(row, LabelRecord)
            async for row in self._rows("export_label_moves", EXPORT_LABEL_MOVES, params):
                yield _record(row, LabelMoveRecord)
            async for row in self._rows("export_audit_events", EXPORT_AUDIT_EVENTS, params):
                row["details"] = msgspec.Raw(row["details"])
                yield _record(row, AuditRecord)

    async def _rows(self, name: str, query: LiteralString, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A server-side cursor: BATCH rows in memory at a time, however many the organization has."""
        async with self._conn.cursor(name=name, row_factory=dict_row) as cur:
            cur.itersize = BATCH
            await cur.execute(query, params)
            async for row in cur:
                yield row


def _agent_row(agent: AgentRecord, org_id: UUID) -> tuple[object, ...]:
    return (agent.id, agent.number, org_id, agent.name, agent.description, agent.status.value, agent.created_by,
            agent.created_at, agent.updated_at)  # fmt: skip


def _json(value: object) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _version_row(version: VersionRecord) -> tuple[object, ...]:
    return (version.id, version.agent_id, version.version, version.created_by, version.created_at,
            version.conversation_id, version.message, bytes(version.agent_blueprint).decode(),
            version.compilation_status.value, version.compiled_system_prompt, version.compiled_at, version.compiled_by,
            version.compiler_version, _json(version.compile_errors), _json(version.compile_warnings))  # fmt: skip


def _label_row(label: LabelRecord) -> tuple[object, ...]:
    return (label.agent_id, label.name, label.blueprint_id, label.protected, label.moved_at, label.moved_by)


def _move_row(move: LabelMoveRecord) -> tuple[object, ...]:
    return (move.agent_id, move.name, move.seq, move.blueprint_id, move.version, move.previous_blueprint_id,
            move.previous_version, move.moved_by, move.moved_at)  # fmt: skip


def _event_row(event: AuditRecord, org_id: UUID) -> tuple[object, ...]:
    return (event.id, org_id, event.occurred_at, event.actor, event.action.value, event.target_id, event.agent_id,
            bytes(event.details).decode())  # fmt: skip


class PostgresOrganizationArchive:
    """Each call on a connection of its own: an operator's command, not a request."""

    def __init__(self, conninfo: str, *, lock_timeout_s: float) -> None:
        self._conninfo = conninfo
        self._lock_timeout = f"{round(lock_timeout_s * 1000)}ms"

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self._conninfo, application_name="org-agents transfer")
        await use_msgspec_json(conn)
        return conn

    @asynccontextmanager
    async def snapshot(self, org_name: str) -> AsyncIterator[PostgresArchiveSnapshot]:
        async with translated_errors():
            conn = await self._connect()
        async with conn:
            await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await conn.set_read_only(True)
            async with conn.transaction():
                async with translated_errors(), conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(IN_UTC)
                    await cur.execute(LIMITS, {"lock_timeout": self._lock_timeout})
                    await cur.execute(SELECT_ORGANIZATION, {"name": org_name})
                    org = await cur.fetchone()
                    if org is None:
                        raise UnknownOrganization(org_name)
                    organization = msgspec.convert(org, OrganizationRecord)
                    await cur.execute(COUNT_RECORDS, {"org_id": organization.id})
                    counts = msgspec.convert(await cur.fetchone(), ArchiveCounts)
                yield PostgresArchiveSnapshot(conn, organization, counts)

    async def load(self, organization: OrganizationRecord, org_name: str, records: Iterator[ArchiveRecord]) -> UUID:
        async with translated_errors():
            conn = await self._connect()
        async with conn:
            try:
                async with translated_errors(), conn.transaction():
                    org_id = await self._load(conn, organization, org_name, records)
            except errors.UniqueViolation as exc:
                raise _taken(exc) from exc
            except (errors.IntegrityError, errors.DataError) as exc:  # what the reader's checks should have caught
                raise ImportRefused(f"the database refused the import: {exc.diag.message_primary}") from exc
        return org_id

    async def _load(self, conn: psycopg.AsyncConnection[Any], organization: OrganizationRecord, org_name: str,
                    records: Iterator[ArchiveRecord]) -> UUID:  # fmt: skip
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(LIMITS, {"lock_timeout": self._lock_timeout})
            await cur.execute(FIND_ORGANIZATION_FOR_UPDATE, {"name": org_name})
            found = await cur.fetchone()
            if found is None:
                org_id = organization.id
                await cur.execute(INSERT_ORGANIZATION, {"id": org_id, "name": org_name,
                                                        "created_at": organization.created_at})  # fmt: skip
            elif found["agents"]:
                raise ImportRefused(f"organization {org_name!r} already has {found['agents']} agents")
            else:
                org_id = found["id"]
            production: list[dict[str, object]] = []
            highest = 0
            usage: dict[int, list[int]] = {}  # slot → [agents not deleted, versions, stored bytes]
            for kind, group in itertools.groupby(records, key=type):
                if kind is AgentRecord:
                    async with cur.copy(COPY_AGENTS) as copy:
                        for agent in _of(AgentRecord, group):
                            await copy.write_row(_agent_row(agent, org_id))
                            highest = max(highest, agent.number)
                            counts = usage.setdefault(slot_of(agent.id), [0, 0, 0])
                            counts[0] += agent.status is not AgentStatus.DELETE
                            if agent.current_blueprint_id is not None:
                                production.append({"id": agent.id, "org_id": org_id, "updated_at": agent.updated_at,
                                                   "current_blueprint_id": agent.current_blueprint_id})  # fmt: skip
                elif kind is VersionRecord:
                    async with cur.copy(COPY_VERSIONS) as copy:
                        for version in _of(VersionRecord, group):
                            await copy.write_row(_version_row(version))
                            counts = usage.setdefault(slot_of(version.agent_id), [0, 0, 0])
                            counts[1] += 1
                            counts[2] += len(version.agent_blueprint)
                    await cur.executemany(SET_PRODUCTION, production)
                    production = []
                elif kind is LabelRecord:
                    async with cur.copy(COPY_LABELS) as copy:
                        for label in _of(LabelRecord, group):
                            await copy.write_row(_label_row(label))
                elif kind is LabelMoveRecord:
                    async with cur.copy(COPY_LABEL_MOVES) as copy:
                        for move in _of(LabelMoveRecord, group):
                            await copy.write_row(_move_row(move))
                else:
                    async with cur.copy(COPY_AUDIT_EVENTS) as copy:
                        for event in _of(AuditRecord, group):
                            await copy.write_row(_event_row(event, org_id))
            if production:  # agents with a production and no version: the reader refuses them before this
                raise RuntimeError("production set on agents whose versions never came")
            if usage:
                await cur.executemany(ADD_USAGE, [
                    usage_params(org_id, slot, agents=agents, versions=versions, stored_bytes=stored_bytes)
                    for slot, (agents, versions, stored_bytes) in sorted(usage.items())
                ])  # fmt: skip
            if highest:
                await cur.execute(ADVANCE_AGENT_NUMBERS, {"number": highest})
        return org_id


def _of(kind: type[R], group: Iterator[object]) -> Iterator[R]:
    for record in group:
        if not isinstance(record, kind):
            raise TypeError(f"{type(record).__name__} among {kind.__name__}s")
        yield record
