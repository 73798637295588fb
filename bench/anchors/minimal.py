"""Anchor (ii): what a user could write in an afternoon with Litestar and psycopg-pool, on granian like serve: each
route is ONE statement that checks the bearer token (its SHA-256 in agent_api_tokens, not revoked, not expired) and
reads what it answers, with the pool size per worker serve uses. No access log, no limits, no ETag, no OpenAPI."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Final, LiteralString
from uuid import UUID

import msgspec
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from application.pagination import DEFAULT_LIMIT
from domain.tokens import secret_hash
from entrypoints.settings import Settings

# The token's row, and (LEFT JOIN: NULLs when there is none) what the route reads: no row at all is a 401.
WHO: Final = """
    WITH who AS (
        SELECT org_id FROM agent_api_tokens
        WHERE secret_hash = %(secret_hash)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
    )
"""
AGENT_COLUMNS: Final = """
    a.id, a.agent_id, a.org_id, a.name, a.description, a.status, a.created_by, a.created_at, a.updated_at,
    a.current_blueprint_id
"""
SELECT_AGENT: Final[LiteralString] = f"""{WHO}
    SELECT {AGENT_COLUMNS}
    FROM who LEFT JOIN org_agents a ON a.org_id = who.org_id AND a.id = %(agent_id)s
"""  # noqa: S608 - constants of this module
SELECT_AGENTS: Final[LiteralString] = f"""{WHO}
    SELECT page.* FROM who LEFT JOIN LATERAL (
        SELECT {AGENT_COLUMNS} FROM org_agents a
        WHERE a.org_id = who.org_id AND a.status <> 'delete'
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT %(limit)s
    ) page ON true
"""  # noqa: S608
SELECT_VERSIONS: Final[LiteralString] = f"""{WHO}
    SELECT page.* FROM who LEFT JOIN LATERAL (
        SELECT b.id, b.agent_id, b.version, b.compilation_status, b.message, b.conversation_id, b.created_by,
               b.created_at, b.compiled_at, b.compiled_by, b.compiler_version,
               b.blueprint_bytes,
               octet_length(b.compiled_system_prompt) AS prompt_bytes
        FROM org_agents a JOIN agent_blueprints b ON b.agent_id = a.id
        WHERE a.org_id = who.org_id AND a.id = %(agent_id)s
        ORDER BY b.version DESC
        LIMIT %(limit)s
    ) page ON true
"""  # noqa: S608


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    agent_id: int | None
    org_id: UUID
    name: str
    description: str | None
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    current_blueprint_id: UUID | None


class AgentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Agent]
    next_cursor: str | None


class VersionSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    agent_id: UUID
    version: int
    compilation_status: str
    message: str | None
    conversation_id: str | None
    created_by: str
    created_at: datetime
    compiled_at: datetime | None
    compiled_by: str | None
    compiler_version: str | None
    blueprint_bytes: int
    prompt_bytes: int | None


class VersionPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[VersionSummary]
    next_cursor: str | None


async def _rows(state: State, request: Request[Any, Any, Any], query: LiteralString, **params: object) -> list[Any]:
    """The statement's rows; a 401 when the bearer token is missing, unknown, revoked or expired."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise NotAuthorizedException()
    pool: AsyncConnectionPool = state.pool
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"secret_hash": secret_hash(secret), **params})
        rows = await cur.fetchall()
    if not rows:
        raise NotAuthorizedException()
    return [row for row in rows if row["id"] is not None]


def _page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """One more row than the page is read: there is a next page when it came (the cursor is not followed here)."""
    return rows[:limit], ("more" if len(rows) > limit else None)


@get("/org-agents/{agent_id:uuid}")
async def get_agent(agent_id: UUID, state: State, request: Request[Any, Any, Any]) -> Agent:
    rows = await _rows(state, request, SELECT_AGENT, agent_id=agent_id)
    if not rows:
        raise NotFoundException()
    return msgspec.convert(rows[0], Agent)


@get("/org-agents")
async def list_agents(state: State, request: Request[Any, Any, Any], limit: int = DEFAULT_LIMIT) -> AgentPage:
    items, cursor = _page(await _rows(state, request, SELECT_AGENTS, limit=limit + 1), limit)
    return AgentPage(items=msgspec.convert(items, list[Agent]), next_cursor=cursor)


@get("/org-agents/{agent_id:uuid}/blueprints")
async def list_versions(
    agent_id: UUID, state: State, request: Request[Any, Any, Any], limit: int = DEFAULT_LIMIT
) -> VersionPage:
    rows = await _rows(state, request, SELECT_VERSIONS, agent_id=agent_id, limit=limit + 1)
    items, cursor = _page(rows, limit)
    return VersionPage(items=msgspec.convert(items, list[VersionSummary]), next_cursor=cursor)


@get("/health")
async def health() -> str:
    return "ok"


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    s = Settings.from_env({})  # serve's defaults: its pool size and timeout per worker
    pool = AsyncConnectionPool(
        os.environ["DATABASE_URL"], min_size=s.pool_min_size, max_size=s.pool_max_size, timeout=s.pool_timeout_s,
        open=False, kwargs={"application_name": "org-agents-anchor"},
    )  # fmt: skip
    await pool.open(wait=True, timeout=s.pool_timeout_s)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = Litestar([get_agent, list_agents, list_versions, health], lifespan=[lifespan], openapi_config=None)
