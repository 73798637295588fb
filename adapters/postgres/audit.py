"""The audit trail in PostgreSQL (agent_audit_events), written through the use case's own transaction."""

from typing import Final
from uuid import UUID

import msgspec
from psycopg.types.json import Jsonb

from adapters.postgres.session import Session, row_as
from domain.audit import AuditEvent

INSERT_EVENT: Final = """
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, occurred_at, details)
    VALUES (%(id)s, %(org_id)s, %(actor)s, %(action)s, %(target_id)s, %(occurred_at)s, %(details)s)
"""
SELECT_EVENTS: Final = """
    SELECT id, org_id, actor, action, target_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s
    ORDER BY occurred_at, id
"""
SELECT_EVENTS_OF_TARGET: Final = """
    SELECT id, org_id, actor, action, target_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s AND target_id = %(target_id)s
    ORDER BY occurred_at, id
"""


class PostgresAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def record(self, event: AuditEvent) -> None:
        params = msgspec.structs.asdict(event) | {"action": event.action.value, "details": Jsonb(event.details)}
        self._session.write(INSERT_EVENT, params)

    async def events(self, org_id: UUID, *, target_id: UUID | None = None) -> list[AuditEvent]:
        if target_id is None:
            rows = await self._session.rows(SELECT_EVENTS, {"org_id": org_id})
        else:
            rows = await self._session.rows(SELECT_EVENTS_OF_TARGET, {"org_id": org_id, "target_id": target_id})
        return [row_as(row, AuditEvent) for row in rows]
