"""First answers to Idempotency-Keys in PostgreSQL (agent_idempotency_keys), written in the use case's transaction."""

from datetime import datetime
from typing import Final
from uuid import UUID

from adapters.postgres.session import Session
from domain.errors import ConcurrentUpdate
from domain.idempotency import StoredResponse

SELECT_RESPONSE: Final = """
    SELECT request_hash, response, created_at
    FROM agent_idempotency_keys
    WHERE org_id = %(org_id)s AND key = %(key)s AND created_at > %(since)s
"""
# A concurrent request with the same key waits here for the first one's transaction; once that commits, the row is
# live, nothing is written, and this request is rolled back as a ConcurrentUpdate. A forgotten (expired) row is reused.
SAVE_RESPONSE: Final = """
    INSERT INTO agent_idempotency_keys (org_id, key, request_hash, response, created_at)
    VALUES (%(org_id)s, %(key)s, %(request_hash)s, %(response)s, %(created_at)s)
    ON CONFLICT (org_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, response = EXCLUDED.response, created_at = EXCLUDED.created_at
        WHERE agent_idempotency_keys.created_at <= %(since)s
    RETURNING 1 AS saved
"""

# Keys past their TTL, in batches (application/housekeeping.py).
PURGE_RESPONSES: Final = """
    WITH expired AS (
        SELECT org_id, key FROM agent_idempotency_keys WHERE created_at <= %(before)s
        ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM agent_idempotency_keys k USING expired e WHERE k.org_id = e.org_id AND k.key = e.key RETURNING 1
    )
    SELECT count(*) AS purged FROM gone
"""


class PostgresIdempotencyLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def find(self, org_id: UUID, key: str, *, since: datetime) -> StoredResponse | None:
        row = await self._session.row(SELECT_RESPONSE, {"org_id": org_id, "key": key, "since": since})
        if row is None:
            return None
        return StoredResponse(
            request_hash=bytes(row["request_hash"]), response=bytes(row["response"]), created_at=row["created_at"]
        )

    async def save(self, org_id: UUID, key: str, stored: StoredResponse, *, since: datetime) -> None:
        params = {
            "org_id": org_id, "key": key, "request_hash": stored.request_hash, "response": stored.response,
            "created_at": stored.created_at, "since": since,
        }  # fmt: skip
        if await self._session.row(SAVE_RESPONSE, params) is None:
            raise ConcurrentUpdate("another request with this Idempotency-Key was answered meanwhile; retry")

    async def purge(self, *, before: datetime, limit: int) -> int:
        row = await self._session.row(PURGE_RESPONSES, {"before": before, "limit": limit})
        return int(row["purged"]) if row else 0
