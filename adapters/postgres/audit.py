"""The audit trail in PostgreSQL (agent_audit_events), written through the use case's own transaction.

A page is one range of one index (migration 0011), newest first: the agent's, the actor's or the action's when such
a filter is given (in that order of preference), the organization's otherwise. The cursor and `until` are one upper
bound and `since` the lower one, so the scan starts at the page and stops after it, however long the trail; the
filters the index does not hold are checked on those rows only.
"""

from datetime import UTC, datetime
from typing import Any, Final, LiteralString
from uuid import UUID

import msgspec
from psycopg.types.json import Jsonb

from adapters.postgres.session import Session, row_as
from application.pagination import AuditKey
from domain.audit import Action, AuditEvent

INSERT_EVENT: Final = """
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, agent_id, occurred_at, details)
    VALUES (%(id)s, %(org_id)s, %(actor)s, %(action)s, %(target_id)s, %(agent_id)s, %(occurred_at)s, %(details)s)
"""
# On (org_id, occurred_at, id).
SELECT_EVENTS: Final = """
    SELECT id, org_id, actor, action, target_id, agent_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s
      AND (occurred_at, id) < (%(before_at)s, %(before_id)s) AND occurred_at >= %(since)s
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
"""
# On (org_id, agent_id, occurred_at, id).
SELECT_EVENTS_OF_AGENT: Final = """
    SELECT id, org_id, actor, action, target_id, agent_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s AND agent_id = %(agent_id)s
      AND (occurred_at, id) < (%(before_at)s, %(before_id)s) AND occurred_at >= %(since)s
      AND (%(action)s::text IS NULL OR action = %(action)s)
      AND (%(actor)s::text IS NULL OR actor = %(actor)s)
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
"""
# On (org_id, actor, occurred_at, id).
SELECT_EVENTS_OF_ACTOR: Final = """
    SELECT id, org_id, actor, action, target_id, agent_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s AND actor = %(actor)s
      AND (occurred_at, id) < (%(before_at)s, %(before_id)s) AND occurred_at >= %(since)s
      AND (%(action)s::text IS NULL OR action = %(action)s)
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
"""
# On (org_id, action, occurred_at, id).
SELECT_EVENTS_OF_ACTION: Final = """
    SELECT id, org_id, actor, action, target_id, agent_id, occurred_at, details
    FROM agent_audit_events
    WHERE org_id = %(org_id)s AND action = %(action)s
      AND (occurred_at, id) < (%(before_at)s, %(before_id)s) AND occurred_at >= %(since)s
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
"""
# Retention (application/housekeeping.py): the oldest first, in batches, skipping rows another purge holds. Each
# organization's events are one range of its trail's index (org_id, occurred_at, id), which the pages read too: an
# index on occurred_at alone would tempt the planner away from it for those pages (tests/integration/test_query_plans).
PURGE_EVENTS: Final = """
    WITH expired AS (
        SELECT e.id
        FROM agent_organizations o
        CROSS JOIN LATERAL (
            SELECT id FROM agent_audit_events
            WHERE org_id = o.id AND occurred_at < %(before)s
            ORDER BY occurred_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
        ) e
        LIMIT %(limit)s
    ), gone AS (
        DELETE FROM agent_audit_events a USING expired WHERE a.id = expired.id RETURNING 1
    )
    SELECT count(*) AS purged FROM gone
"""
EARLIEST: Final = datetime.min.replace(tzinfo=UTC)
LATEST: Final = datetime.max.replace(tzinfo=UTC)
LOWEST_ID: Final = UUID(int=0)
HIGHEST_ID: Final = UUID(int=2**128 - 1)


def event_params(event: AuditEvent) -> dict[str, Any]:
    """INSERT_EVENT's parameters; the token store writes its events with them too."""
    return msgspec.structs.asdict(event) | {"action": event.action.value, "details": Jsonb(event.details)}


def _upper_bound(after: AuditKey | None, until: datetime | None) -> tuple[datetime, UUID]:
    """Strictly below the cursor and before `until`, as one (occurred_at, id) bound: `occurred_at < until` is
    `(occurred_at, id) < (until, lowest id)`. Two bounds would let the scan start at the looser one and read every
    row down to the other."""
    bounds = [(after.occurred_at, after.id)] if after is not None else []
    if until is not None:
        bounds.append((until, LOWEST_ID))
    return min(bounds, default=(LATEST, HIGHEST_ID))


class PostgresAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def record(self, event: AuditEvent) -> None:
        self._session.write(INSERT_EVENT, event_params(event))

    async def page(
        self,
        org_id: UUID,
        *,
        limit: int,
        after: AuditKey | None,
        agent_id: UUID | None = None,
        action: Action | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        query: LiteralString
        if agent_id is not None:
            query = SELECT_EVENTS_OF_AGENT
        elif actor is not None:
            query = SELECT_EVENTS_OF_ACTOR
        elif action is not None:
            query = SELECT_EVENTS_OF_ACTION
        else:
            query = SELECT_EVENTS
        before_at, before_id = _upper_bound(after, until)
        params = {
            "org_id": org_id,
            "agent_id": agent_id,
            "action": None if action is None else action.value,
            "actor": actor,
            "since": EARLIEST if since is None else since,
            "before_at": before_at,
            "before_id": before_id,
            "limit": limit,
        }
        return [row_as(row, AuditEvent) for row in await self._session.rows(query, params)]

    async def purge(self, *, before: datetime, limit: int) -> int:
        row = await self._session.row(PURGE_EVENTS, {"before": before, "limit": limit})
        return int(row["purged"]) if row else 0
