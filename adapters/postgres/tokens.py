"""API tokens in PostgreSQL: agent_api_tokens holds a SHA-256 of each secret, never the secret."""

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.session import translated_errors
from application.ports import TokenInfo
from domain.errors import TokenNotFound
from domain.roles import Principal, Role

SELECT_PRINCIPAL: Final = """
    SELECT org_id, user_id, role
    FROM agent_api_tokens
    WHERE secret_hash = %(secret_hash)s AND revoked_at IS NULL
"""
INSERT_ORGANIZATION: Final = """
    INSERT INTO agent_organizations (id, name, created_at)
    VALUES (%(org_id)s, %(org_name)s, %(created_at)s)
    ON CONFLICT (name) DO NOTHING
"""
SELECT_ORGANIZATION_ID: Final = "SELECT id FROM agent_organizations WHERE name = %(org_name)s"
INSERT_TOKEN: Final = """
    INSERT INTO agent_api_tokens (id, org_id, user_id, role, secret_hash, created_at)
    VALUES (%(id)s, %(org_id)s, %(user_id)s, %(role)s, %(secret_hash)s, %(created_at)s)
"""  # noqa: S105 - SQL text, not a password
SELECT_TOKENS_OF_ORG: Final = """
    SELECT t.id, t.org_id, o.name AS org_name, t.user_id, t.role, t.created_at, t.revoked_at
    FROM agent_api_tokens t JOIN agent_organizations o ON o.id = t.org_id
    WHERE o.name = %(org_name)s
    ORDER BY t.created_at, t.id
"""
REVOKE_TOKEN: Final = """
    UPDATE agent_api_tokens SET revoked_at = coalesce(revoked_at, %(now)s)
    WHERE id = %(id)s
    RETURNING id, org_id, (SELECT name FROM agent_organizations o WHERE o.id = org_id) AS org_name,
              user_id, role, created_at, revoked_at
"""  # noqa: S105 - SQL text, not a password


def _info(row: dict[str, Any]) -> TokenInfo:
    return msgspec.convert(row, TokenInfo)


class PostgresTokenStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def resolve(self, secret_hash: bytes) -> Principal | None:
        async with translated_errors(), self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(SELECT_PRINCIPAL, {"secret_hash": secret_hash})
            row = await cur.fetchone()
        if row is None:
            return None
        return Principal(org_id=row["org_id"], user_id=row["user_id"], role=Role(row["role"]))

    async def issue(self, info: TokenInfo, secret_hash: bytes) -> TokenInfo:
        params = msgspec.structs.asdict(info) | {"role": info.role.value, "secret_hash": secret_hash}
        async with (
            translated_errors(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute(INSERT_ORGANIZATION, params)
            await cur.execute(SELECT_ORGANIZATION_ID, params)
            org = await cur.fetchone()
            if org is None:  # inserted or already there, and nothing deletes organizations
                raise LookupError(f"organization {info.org_name!r} vanished while issuing a token")
            stored = msgspec.structs.replace(info, org_id=org["id"])
            await cur.execute(INSERT_TOKEN, params | {"org_id": stored.org_id})
        return stored

    async def list(self, org_name: str) -> list[TokenInfo]:
        async with translated_errors(), self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(SELECT_TOKENS_OF_ORG, {"org_name": org_name})
            return [_info(row) for row in await cur.fetchall()]

    async def revoke(self, token_id: UUID, now: datetime) -> TokenInfo:
        async with translated_errors(), self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(REVOKE_TOKEN, {"id": token_id, "now": now})
            row = await cur.fetchone()
        if row is None:
            raise TokenNotFound(token_id)
        return _info(row)
