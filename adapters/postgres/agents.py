"""Agents in PostgreSQL (org_agents). Every statement is scoped by the organization."""

from collections.abc import Collection
from typing import Final, LiteralString
from uuid import UUID

import msgspec

from adapters.postgres.session import Session, row_as
from application.pagination import AgentKey
from domain.agents import Agent, AgentStatus
from domain.errors import AgentNotFound

INSERT_AGENT: Final = """
    INSERT INTO org_agents (id, org_id, name, description, status, created_by, created_at, updated_at,
                            current_blueprint_id)
    VALUES (%(id)s, %(org_id)s, %(name)s, %(description)s, %(status)s, %(created_by)s, %(created_at)s,
            %(updated_at)s, %(current_blueprint_id)s)
    RETURNING agent_id
"""
SELECT_AGENT: Final = """
    SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s AND id = %(id)s
"""
SELECT_AGENT_FOR_UPDATE: Final = """
    SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s AND id = %(id)s
    FOR UPDATE
"""
UPDATE_AGENT: Final = """
    UPDATE org_agents
    SET name = %(name)s, description = %(description)s, status = %(status)s, updated_at = %(updated_at)s,
        current_blueprint_id = %(current_blueprint_id)s
    WHERE org_id = %(org_id)s AND id = %(id)s
"""
# Newest first on the (org_id, created_at, id) index; the keyset condition keeps pages stable under inserts.
SELECT_FIRST_AGENTS: Final = """
    SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s AND status = ANY(%(statuses)s)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
"""
SELECT_AGENTS_AFTER: Final = """
    SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s AND status = ANY(%(statuses)s) AND (created_at, id) < (%(created_at)s, %(after_id)s)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
"""
# The pattern is the query with LIKE's wildcards escaped, so a '%' or '_' in it matches itself.
SEARCH_AGENTS: Final = """
    SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at, current_blueprint_id
    FROM org_agents
    WHERE org_id = %(org_id)s AND status <> 'delete' AND name ILIKE %(pattern)s
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
"""


def like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _params(agent: Agent) -> dict[str, object]:
    return msgspec.structs.asdict(agent) | {"status": agent.status.value}


class PostgresAgentRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, agent: Agent) -> Agent:
        row = await self._session.one(INSERT_AGENT, _params(agent))
        return msgspec.structs.replace(agent, number=row["agent_id"])

    async def get(self, org_id: UUID, agent_id: UUID) -> Agent:
        return await self._get(SELECT_AGENT, org_id, agent_id)

    async def get_for_update(self, org_id: UUID, agent_id: UUID) -> Agent:
        return await self._get(SELECT_AGENT_FOR_UPDATE, org_id, agent_id)

    async def _get(self, query: LiteralString, org_id: UUID, agent_id: UUID) -> Agent:
        row = await self._session.row(query, {"org_id": org_id, "id": agent_id})
        if row is None:
            raise AgentNotFound(agent_id)
        return row_as(row, Agent)

    async def update(self, agent: Agent) -> None:
        self._session.write(UPDATE_AGENT, _params(agent))

    async def page(
        self, org_id: UUID, *, statuses: Collection[AgentStatus], limit: int, after: AgentKey | None
    ) -> list[Agent]:
        params: dict[str, object] = {"org_id": org_id, "statuses": [s.value for s in statuses], "limit": limit}
        if after is None:
            rows = await self._session.rows(SELECT_FIRST_AGENTS, params)
        else:
            rows = await self._session.rows(
                SELECT_AGENTS_AFTER, params | {"created_at": after.created_at, "after_id": after.id}
            )
        return [row_as(row, Agent) for row in rows]

    async def search(self, org_id: UUID, query: str, *, limit: int) -> list[Agent]:
        params = {"org_id": org_id, "pattern": like_pattern(query), "limit": limit}
        return [row_as(row, Agent) for row in await self._session.rows(SEARCH_AGENTS, params)]
