"""API tokens in PostgreSQL: agent_api_tokens holds a SHA-256 of each secret, never the secret."""

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.audit import INSERT_EVENT, event_params
from adapters.postgres.session import translated_errors
from application.pagination import TokenKey
from application.ports import TokenInfo
from domain.audit import AuditEvent
from domain.errors import TokenNotFound
from domain.roles import Principal, Role, Scope

SELECT_PRINCIPAL: Final = """
    SELECT id, org_id, user_id, role, scope, expires_at
    FROM agent_api_tokens
    WHERE secret_hash = %(secret_hash)s AND revoked_at IS NULL
"""
INSERT_ORGANIZATION: Final = """
    INSERT INTO agent_organizations (id, name, created_at)
    VALUES (%(org_id)s, %(org_name)s, %(created_at)s)
    ON CONFLICT (name) DO NOTHING
"""
SELECT_ORGANIZATION_ID: Final = "SELECT id FROM agent_organizations WHERE name = %(org_name)s"
SELECT_ORGANIZATION_NAME: Final = "SELECT name FROM agent_organizations WHERE id = %(org_id)s"
INSERT_TOKEN: Final = """
    INSERT INTO agent_api_tokens (id, org_id, user_id, role, scope, name, expires_at, secret_hash, created_at)
    VALUES (%(id)s, %(org_id)s, %(user_id)s, %(role)s, %(scope)s, %(name)s, %(expires_at)s, %(secret_hash)s,
            %(created_at)s)
"""  # noqa: S105 - SQL text, not a password
COLUMNS: Final = """
    t.id, t.org_id, o.name AS org_name, t.user_id, t.role, t.scope, t.name, t.created_at, t.expires_at,
    t.last_used_at, t.revoked_at
"""
SELECT_TOKENS_OF_ORG: Final = f"""
    SELECT {COLUMNS}
    FROM agent_api_tokens t JOIN agent_organizations o ON o.id = t.org_id
    WHERE o.name = %(org_name)s
    ORDER BY t.created_at, t.id
"""  # noqa: S608 - the interpolation is a constant of this module
SELECT_TOKEN_PAGE: Final = f"""
    SELECT {COLUMNS}
    FROM agent_api_tokens t JOIN agent_organizations o ON o.id = t.org_id
    WHERE t.org_id = %(org_id)s
      AND (%(after_at)s::timestamptz IS NULL OR (t.created_at, t.id) < (%(after_at)s, %(after_id)s::uuid))
    ORDER BY t.created_at DESC, t.id DESC
    LIMIT %(limit)s
"""  # noqa: S608
SELECT_TOKEN: Final = f"""
    SELECT {COLUMNS}
    FROM agent_api_tokens t JOIN agent_organizations o ON o.id = t.org_id
    WHERE t.id = %(id)s AND (%(org_id)s::uuid IS NULL OR t.org_id = %(org_id)s)
"""  # noqa: S608
SELECT_TOKEN_BY_HASH: Final = f"""
    SELECT {COLUMNS}
    FROM agent_api_tokens t JOIN agent_organizations o ON o.id = t.org_id
    WHERE t.secret_hash = %(secret_hash)s
"""  # noqa: S608
LOCK_ROW: Final = "SELECT revoked_at FROM agent_api_tokens WHERE id = %(id)s FOR UPDATE"
# Also when it was revoked already: any update of a revoked token is announced (0008), a repeat included.
REVOKE_ROW: Final = "UPDATE agent_api_tokens SET revoked_at = coalesce(revoked_at, %(now)s) WHERE id = %(id)s"
TOUCH_ROW: Final = """
    UPDATE agent_api_tokens SET last_used_at = %(now)s
    WHERE id = %(id)s AND revoked_at IS NULL
      AND (last_used_at IS NULL OR last_used_at < %(now)s - interval '1 minute')
"""


def _info(row: dict[str, Any]) -> TokenInfo:
    return msgspec.convert(row, TokenInfo)


class PostgresTokenStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def resolve(self, secret_hash: bytes) -> Principal | None:
        row = await self._one(SELECT_PRINCIPAL, {"secret_hash": secret_hash})
        if row is None:
            return None
        return Principal(
            org_id=row["org_id"], user_id=row["user_id"], role=Role(row["role"]), scope=Scope(row["scope"]),
            token_id=row["id"], expires_at=row["expires_at"],
        )  # fmt: skip

    async def issue(self, info: TokenInfo, secret_hash: bytes, event: AuditEvent | None = None) -> TokenInfo:
        params = msgspec.structs.asdict(info) | {
            "role": info.role.value, "scope": info.scope.value, "secret_hash": secret_hash,
        }  # fmt: skip
        async with (
            translated_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            org_id = await _organization_id(cur, params)
            stored = msgspec.structs.replace(info, org_id=org_id)
            await cur.execute(INSERT_TOKEN, params | {"org_id": org_id})
            if event is not None:
                await cur.execute(INSERT_EVENT, event_params(msgspec.structs.replace(event, org_id=org_id)))
        return stored

    async def of_org(self, org_name: str) -> list[TokenInfo]:
        return [_info(row) for row in await self._all(SELECT_TOKENS_OF_ORG, {"org_name": org_name})]

    async def page(self, org_id: UUID, *, limit: int, after: TokenKey | None) -> list[TokenInfo]:
        params = {
            "org_id": org_id, "limit": limit, "after_at": after.created_at if after else None,
            "after_id": after.id if after else None,
        }  # fmt: skip
        return [_info(row) for row in await self._all(SELECT_TOKEN_PAGE, params)]

    async def get(self, token_id: UUID, *, org_id: UUID | None = None) -> TokenInfo:
        row = await self._one(SELECT_TOKEN, {"id": token_id, "org_id": org_id})
        if row is None:
            raise TokenNotFound(token_id)
        return _info(row)

    async def find(self, secret_hash: bytes) -> TokenInfo | None:
        row = await self._one(SELECT_TOKEN_BY_HASH, {"secret_hash": secret_hash})
        return None if row is None else _info(row)

    async def revoke(self, token_id: UUID, now: datetime, event: AuditEvent | None = None) -> TokenInfo:
        async with (
            translated_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(LOCK_ROW, {"id": token_id})
            before = await cur.fetchone()
            if before is None:
                raise TokenNotFound(token_id)
            await cur.execute(REVOKE_ROW, {"id": token_id, "now": now})
            if before["revoked_at"] is None and event is not None:  # only the revocation that took effect
                await cur.execute(INSERT_EVENT, event_params(event))
            await cur.execute(SELECT_TOKEN, {"id": token_id, "org_id": None})
            row = await cur.fetchone()
        if row is None:  # nothing deletes tokens
            raise TokenNotFound(token_id)
        return _info(row)

    async def touch(self, token_id: UUID, now: datetime) -> None:
        async with translated_errors(), self._pool.connection() as conn:
            await conn.execute(TOUCH_ROW, {"id": token_id, "now": now})

    async def organization_name(self, org_id: UUID) -> str | None:
        row = await self._one(SELECT_ORGANIZATION_NAME, {"org_id": org_id})
        return None if row is None else str(row["name"])

    async def find_organization(self, name: str) -> UUID | None:
        row = await self._one(SELECT_ORGANIZATION_ID, {"org_name": name})
        return None if row is None else UUID(str(row["id"]))

    async def organization_id(self, name: str, *, new_id: UUID, now: datetime) -> UUID:
        params = {"org_id": new_id, "org_name": name, "created_at": now}
        async with (
            translated_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            return await _organization_id(cur, params)

    async def _one(self, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with translated_errors(), self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchone()

    async def _all(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with translated_errors(), self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()


async def _organization_id(cur: AsyncCursor[DictRow], params: dict[str, Any]) -> UUID:
    """The organization named `org_name`, created with `org_id` when new."""
    await cur.execute(INSERT_ORGANIZATION, params)
    await cur.execute(SELECT_ORGANIZATION_ID, params)
    org = await cur.fetchone()
    if org is None:  # inserted or already there, and nothing deletes organizations
        raise LookupError(f"organization {params['org_name']!r} vanished")
    found: UUID = org["id"]
    return found
