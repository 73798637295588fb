"""Blueprint versions in PostgreSQL (agent_blueprints), always reached through an agent already scoped by org."""

from collections.abc import Sequence
from typing import Any, Final, LiteralString
from uuid import UUID

import msgspec
from psycopg.types.json import Jsonb

from adapters.postgres.agents import SELECT_AGENT_FOR_UPDATE
from adapters.postgres.session import Session, row_as
from adapters.postgres.usage import SELECT_USAGE, read_ahead
from domain.agents import Agent
from domain.blueprints import (
    BlueprintVersion,
    CompilationStats,
    CompilationStatus,
    LivePrompt,
    VersionSummary,
    compilation_stats,
)
from domain.errors import AgentNotFound, BlueprintNotFound, Violation
from domain.labels import LATEST, PRODUCTION

# Run once the agent's row lock is held (lock_for_new_version), so this number cannot be handed out twice.
SELECT_NEXT_NUMBER: Final = """
    SELECT COALESCE(max(version), 0) + 1 AS next FROM agent_blueprints WHERE agent_id = %(agent_id)s
"""
INSERT_VERSION: Final = """
    INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id,
                                  compilation_status, message)
    VALUES (%(id)s, %(agent_id)s, %(version)s, %(agent_blueprint)s, %(created_by)s, %(created_at)s,
            %(conversation_id)s, %(compilation_status)s, %(message)s)
"""
SELECT_VERSION: Final = """
    SELECT id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id, compilation_status,
           compiled_system_prompt, compiled_at, compiled_by, compile_errors, compiler_version, message, compile_warnings
    FROM agent_blueprints
    WHERE agent_id = %(agent_id)s AND id = %(id)s
"""
# The agent's row and its version in one statement: no row, the agent is not the organization's; NULLs, the version is
# not the agent's.
SELECT_VERSION_OF_AGENT: Final = """
    SELECT v.id, v.agent_id, v.version, v.agent_blueprint, v.created_by, v.created_at, v.conversation_id,
           v.compilation_status, v.compiled_system_prompt, v.compiled_at, v.compiled_by, v.compile_errors,
           v.compiler_version, v.message, v.compile_warnings
    FROM org_agents a LEFT JOIN agent_blueprints v ON v.agent_id = a.id AND v.id = %(id)s
    WHERE a.org_id = %(org_id)s AND a.id = %(agent_id)s
"""
RECORD_COMPILATION: Final = """
    UPDATE agent_blueprints
    SET compilation_status = %(compilation_status)s, compiled_system_prompt = %(compiled_system_prompt)s,
        compiled_at = %(compiled_at)s, compiled_by = %(compiled_by)s, compile_errors = %(compile_errors)s,
        compiler_version = %(compiler_version)s, compile_warnings = %(compile_warnings)s
    WHERE agent_id = %(agent_id)s AND id = %(id)s
"""
_SUMMARY: Final = """
    SELECT id, agent_id, version, created_by, created_at, conversation_id, compilation_status, compiled_at,
           compiled_by, compiler_version, message, blueprint_bytes, octet_length(compiled_system_prompt) AS prompt_bytes
    FROM agent_blueprints
"""
_NEWEST_FIRST: Final = """
    ORDER BY version DESC
    LIMIT %(limit)s
"""


# Pages of summaries, newest first: no document and no prompt is read (a prompt's size is in its TOAST header).
# `before` is never NULL (the first page passes a number above any version), so every page is one range scan of an
# index, however deep: (agent_id, version) for all versions, (agent_id, conversation_id, version) in a conversation,
# (agent_id, compilation_status, version) by status. One statement reads the agent's row and its page: no row, the
# agent is not the organization's; one row of NULLs, it has no version on this page.
_AGENT_AND: Final = "SELECT v.* FROM org_agents a LEFT JOIN LATERAL ("
_OF_AGENT: Final = ") v ON true WHERE a.org_id = %(org_id)s AND a.id = %(agent_id)s ORDER BY v.version DESC"


def _page_of_agent(where: LiteralString) -> LiteralString:
    return _AGENT_AND + _SUMMARY + "WHERE agent_id = %(agent_id)s AND " + where + _NEWEST_FIRST + _OF_AGENT


SELECT_VERSIONS: Final = _page_of_agent("version < %(before)s")
SELECT_VERSIONS_OF_CONVERSATION: Final = _page_of_agent(
    "conversation_id = %(conversation_id)s AND version < %(before)s"
)
SELECT_VERSIONS_WITH_STATUS: Final = _page_of_agent("compilation_status = %(status)s AND version < %(before)s")
SELECT_VERSIONS_OF_CONVERSATION_WITH_STATUS: Final = _page_of_agent(
    "conversation_id = %(conversation_id)s AND compilation_status = %(status)s AND version < %(before)s"
)
# The newest whole version below a number (`before`, never NULL), of any status or of one.
SELECT_LATEST_VERSION: Final = """
    SELECT id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id, compilation_status,
           compiled_system_prompt, compiled_at, compiled_by, compile_errors, compiler_version, message, compile_warnings
    FROM agent_blueprints
    WHERE agent_id = %(agent_id)s AND version < %(before)s
    ORDER BY version DESC
    LIMIT 1
"""
SELECT_LATEST_VERSION_WITH_STATUS: Final = """
    SELECT id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id, compilation_status,
           compiled_system_prompt, compiled_at, compiled_by, compile_errors, compiler_version, message, compile_warnings
    FROM agent_blueprints
    WHERE agent_id = %(agent_id)s AND compilation_status = %(status)s AND version < %(before)s
    ORDER BY version DESC
    LIMIT 1
"""
# A page's documents, when a list is asked to include them.
SELECT_VERSIONS_BY_ID: Final = """
    SELECT id, agent_id, version, agent_blueprint, created_by, created_at, conversation_id, compilation_status,
           compiled_system_prompt, compiled_at, compiled_by, compile_errors, compiler_version, message, compile_warnings
    FROM agent_blueprints
    WHERE agent_id = %(agent_id)s AND id = ANY(%(ids)s)
    ORDER BY version DESC
"""
# An agent with its active and its newest version, in one statement: each version as one JSON value (every column
# of its row), so that the answer is one row. One statement costs the worker less than a pipeline of three.
SELECT_AGENT_WITH_VERSIONS: Final = """
    SELECT a.id, a.agent_id, a.org_id, a.name, a.description, a.status, a.created_by, a.created_at, a.updated_at,
           a.current_blueprint_id,
           (SELECT to_jsonb(b) FROM agent_blueprints b WHERE b.id = a.current_blueprint_id) AS active,
           (SELECT to_jsonb(b) FROM agent_blueprints b WHERE b.agent_id = a.id ORDER BY b.version DESC LIMIT 1)
               AS latest
    FROM org_agents a
    WHERE a.org_id = %(org_id)s AND a.id = %(id)s
"""
# The hot path when the cache misses: primary-key lookups, nothing else. Production is the active version.
SELECT_LIVE_PROMPT: Final = """
    SELECT a.id AS agent_id, b.id AS blueprint_id, b.version, b.compiled_system_prompt, b.compiled_at,
           'production' AS label
    FROM org_agents a
    JOIN agent_blueprints b ON b.id = a.current_blueprint_id
    WHERE a.id = %(agent_id)s AND a.org_id = %(org_id)s AND a.status = 'active' AND b.compilation_status = 'compiled'
"""
SELECT_LABELLED_PROMPT: Final = """
    SELECT a.id AS agent_id, b.id AS blueprint_id, b.version, b.compiled_system_prompt, b.compiled_at, l.name AS label
    FROM org_agents a
    JOIN agent_labels l ON l.agent_id = a.id AND l.name = %(label)s
    JOIN agent_blueprints b ON b.id = l.blueprint_id
    WHERE a.id = %(agent_id)s AND a.org_id = %(org_id)s AND a.status = 'active' AND b.compilation_status = 'compiled'
"""
# The newest compiled version, on the (agent_id, compilation_status, version) index.
SELECT_LATEST_PROMPT: Final = """
    SELECT a.id AS agent_id, b.id AS blueprint_id, b.version, b.compiled_system_prompt, b.compiled_at,
           'latest' AS label
    FROM org_agents a
    JOIN LATERAL (
        SELECT id, version, compiled_system_prompt, compiled_at FROM agent_blueprints
        WHERE agent_id = a.id AND compilation_status = 'compiled'
        ORDER BY version DESC
        LIMIT 1
    ) b ON true
    WHERE a.id = %(agent_id)s AND a.org_id = %(org_id)s AND a.status = 'active'
"""
# The seed's statistics function is the definition of the counts.
SELECT_STATS: Final = """
    SELECT compiled_blueprints, draft_blueprints, failed_blueprints FROM get_org_compilation_stats(%(org_id)s)
"""

ABOVE_ANY_VERSION: Final = 2**31 - 1  # the column is an INTEGER


def _below(before: int | None) -> int:
    return ABOVE_ANY_VERSION if before is None else min(before, ABOVE_ANY_VERSION)


def _version(row: dict[str, Any]) -> BlueprintVersion:
    return row_as(row, BlueprintVersion)


def _violations(violations: list[Violation] | None) -> Jsonb | None:
    return None if violations is None else Jsonb([msgspec.structs.asdict(v) for v in violations])


class PostgresBlueprintRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def lock_for_new_version(self, org_id: UUID, agent_id: UUID) -> tuple[Agent, int]:
        """The lock and the number in one round trip: the second statement runs once the first holds the lock, with
        a snapshot of its own, so a writer of versions holds the lock for one round trip less (BENCHMARKS.md, (d)).
        The organization's usage is read in it too (a third statement), for the quota check that follows (usage.py):
        that read costs the writer no round trip of its own under the lock."""
        ids = {"org_id": org_id, "id": agent_id, "agent_id": agent_id}
        agents, numbers, usage = await self._session.rows_of_each(
            (SELECT_AGENT_FOR_UPDATE, ids), (SELECT_NEXT_NUMBER, ids), (SELECT_USAGE, ids)
        )
        if not agents:
            raise AgentNotFound(agent_id)
        read_ahead(self._session, org_id, usage[0])
        number: int = numbers[0]["next"]
        return row_as(agents[0], Agent), number

    async def lock_with_version(
        self, org_id: UUID, agent_id: UUID, version_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None]:
        """The lock and the version in one round trip, the version read once the lock is held (its compilation is
        changed only under that lock)."""
        ids = {"org_id": org_id, "id": agent_id, "agent_id": agent_id}
        agents, versions = await self._session.rows_of_each(
            (SELECT_AGENT_FOR_UPDATE, ids), (SELECT_VERSION, ids | {"id": version_id})
        )
        if not agents:
            raise AgentNotFound(agent_id)
        return row_as(agents[0], Agent), _version(versions[0]) if versions else None

    async def add(self, version: BlueprintVersion) -> None:
        self._session.write(
            INSERT_VERSION,
            {
                "id": version.id,
                "agent_id": version.agent_id,
                "version": version.version,
                "agent_blueprint": Jsonb(version.agent_blueprint),
                "created_by": version.created_by,
                "created_at": version.created_at,
                "conversation_id": version.conversation_id,
                "compilation_status": version.compilation_status.value,
                "message": version.message,
            },
        )

    async def get(self, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        row = await self._session.row(SELECT_VERSION, {"agent_id": agent_id, "id": version_id})
        if row is None:
            raise BlueprintNotFound(agent_id, version_id)
        return _version(row)

    async def of_agent(self, org_id: UUID, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        row = await self._session.row(
            SELECT_VERSION_OF_AGENT, {"org_id": org_id, "agent_id": agent_id, "id": version_id}
        )
        if row is None:
            raise AgentNotFound(agent_id)
        if row["id"] is None:
            raise BlueprintNotFound(agent_id, version_id)
        return _version(row)

    async def record_compilation(self, version: BlueprintVersion) -> None:
        self._session.write(
            RECORD_COMPILATION,
            {
                "agent_id": version.agent_id,
                "id": version.id,
                "compilation_status": version.compilation_status.value,
                "compiled_system_prompt": version.compiled_system_prompt,
                "compiled_at": version.compiled_at,
                "compiled_by": version.compiled_by,
                "compile_errors": _violations(version.compile_errors),
                "compiler_version": version.compiler_version,
                "compile_warnings": _violations(version.compile_warnings),
            },
        )

    async def agent_with_versions(
        self, org_id: UUID, agent_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None, BlueprintVersion | None]:
        row = await self._session.row(SELECT_AGENT_WITH_VERSIONS, {"org_id": org_id, "id": agent_id})
        if row is None:
            raise AgentNotFound(agent_id)
        active, latest = row.pop("active"), row.pop("latest")
        return row_as(row, Agent), _version(active) if active else None, _version(latest) if latest else None

    async def latest(
        self, agent_id: UUID, *, before: int | None = None, status: CompilationStatus | None = None
    ) -> BlueprintVersion | None:
        query = SELECT_LATEST_VERSION if status is None else SELECT_LATEST_VERSION_WITH_STATUS
        params = {"agent_id": agent_id, "before": _below(before), "status": status.value if status else None}
        row = await self._session.row(query, params)
        return _version(row) if row else None

    async def summaries(
        self,
        org_id: UUID,
        agent_id: UUID,
        *,
        limit: int,
        before: int | None,
        conversation_id: str | None = None,
        status: CompilationStatus | None = None,
    ) -> list[VersionSummary]:
        query: LiteralString
        if conversation_id is None:
            query = SELECT_VERSIONS if status is None else SELECT_VERSIONS_WITH_STATUS
        else:
            query = SELECT_VERSIONS_OF_CONVERSATION if status is None else SELECT_VERSIONS_OF_CONVERSATION_WITH_STATUS
        params = {
            "org_id": org_id,
            "agent_id": agent_id,
            "before": _below(before),
            "conversation_id": conversation_id,
            "status": status.value if status else None,
            "limit": limit,
        }
        rows = await self._session.rows(query, params)
        if not rows:
            raise AgentNotFound(agent_id)
        return [row_as(row, VersionSummary) for row in rows if row["id"] is not None]

    async def get_many(self, agent_id: UUID, version_ids: Sequence[UUID]) -> list[BlueprintVersion]:
        rows = await self._session.rows(SELECT_VERSIONS_BY_ID, {"agent_id": agent_id, "ids": list(version_ids)})
        return [_version(row) for row in rows]

    async def live_prompt(self, org_id: UUID, agent_id: UUID, label: str) -> LivePrompt | None:
        query = {PRODUCTION: SELECT_LIVE_PROMPT, LATEST: SELECT_LATEST_PROMPT}.get(label, SELECT_LABELLED_PROMPT)
        row = await self._session.row(query, {"org_id": org_id, "agent_id": agent_id, "label": label})
        return row_as(row, LivePrompt) if row else None

    async def stats(self, org_id: UUID) -> CompilationStats:
        row = await self._session.one(SELECT_STATS, {"org_id": org_id})
        return compilation_stats(
            compiled=row["compiled_blueprints"], draft=row["draft_blueprints"], failed=row["failed_blueprints"]
        )
