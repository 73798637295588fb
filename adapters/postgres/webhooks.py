"""Webhooks in PostgreSQL (migration 0014): endpoints, the outbox of events and deliveries, and the claims of the
delivery workers.

A change's events are queued by one pipelined statement of its own transaction, which writes nothing when no
endpoint is subscribed. A claim is a transaction holding its deliveries' rows (FOR UPDATE SKIP LOCKED) while they
are sent: another worker, of this instance or another, skips them, and a worker that dies releases them with its
connection, so they are attempted again (at least once).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.audit import INSERT_EVENT, event_params
from adapters.postgres.session import Session, row_as, translated_errors
from application.pagination import WebhookKey
from application.ports import DueDelivery
from domain.audit import AuditEvent
from domain.errors import DeliveryNotFound, WebhookNotFound
from domain.webhooks import Delivery, DeliveryStatus, Endpoint, EventType, WebhookEvent

ENDPOINT_COLUMNS: Final = """
    id, org_id, url, events, description, enabled, secret, previous_secret, previous_secret_until, failing_since,
    disabled_reason, created_at, updated_at
"""
INSERT_ENDPOINT: Final = """
    INSERT INTO webhook_endpoints (id, org_id, url, events, description, enabled, secret, previous_secret,
                                   previous_secret_until, failing_since, disabled_reason, created_at, updated_at)
    VALUES (%(id)s, %(org_id)s, %(url)s, %(events)s, %(description)s, %(enabled)s, %(secret)s, %(previous_secret)s,
            %(previous_secret_until)s, %(failing_since)s, %(disabled_reason)s, %(created_at)s, %(updated_at)s)
"""
UPDATE_ENDPOINT: Final = """
    UPDATE webhook_endpoints
    SET url = %(url)s, events = %(events)s, description = %(description)s, enabled = %(enabled)s, secret = %(secret)s,
        previous_secret = %(previous_secret)s, previous_secret_until = %(previous_secret_until)s,
        failing_since = %(failing_since)s, disabled_reason = %(disabled_reason)s, updated_at = %(updated_at)s
    WHERE id = %(id)s
"""
SELECT_ENDPOINT: Final = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = %(id)s AND org_id = %(org_id)s"  # noqa: S608
SELECT_ENDPOINT_FOR_UPDATE: Final = SELECT_ENDPOINT + " FOR UPDATE"
# Deliveries first, then the endpoint: a claim holds its deliveries and then updates their endpoint, so a delete must
# take them in that order too (the endpoint first, as its cascade would, deadlocks with a delivery in flight).
DELETE_DELIVERIES: Final = "DELETE FROM webhook_deliveries WHERE endpoint_id = %(id)s"
DELETE_ENDPOINT: Final = "DELETE FROM webhook_endpoints WHERE id = %(id)s"
SELECT_ENDPOINT_PAGE: Final = f"""
    SELECT {ENDPOINT_COLUMNS}
    FROM webhook_endpoints
    WHERE org_id = %(org_id)s
      AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) < (%(after_at)s, %(after_id)s::uuid))
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
"""  # noqa: S608
# One statement: the endpoints that get the event, the event (only when some do), a delivery to each.
ENQUEUE: Final = """
    WITH targets AS (
        SELECT id, created_at FROM webhook_endpoints
        WHERE org_id = %(org_id)s
          AND CASE WHEN %(endpoint_id)s::uuid IS NULL THEN enabled AND %(type)s = ANY (events)
                   ELSE id = %(endpoint_id)s::uuid END
    ), event AS (
        INSERT INTO webhook_events (id, org_id, type, occurred_at, body)
        SELECT %(id)s, %(org_id)s, %(type)s, %(occurred_at)s, %(body)s
        WHERE EXISTS (SELECT FROM targets)
        RETURNING id
    )
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, created_at, next_attempt_at)
    SELECT gen_random_uuid(), t.id, e.id, %(type)s, %(now)s, %(now)s
    FROM targets t CROSS JOIN event e
    ORDER BY t.created_at, t.id
"""
DELIVERY_COLUMNS: Final = """
    id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, last_attempt_at, last_status_code,
    last_error, last_response, created_at, delivered_at, seq
"""
SELECT_DELIVERIES: Final = f"""
    SELECT {DELIVERY_COLUMNS}
    FROM webhook_deliveries
    WHERE endpoint_id = %(endpoint_id)s AND (%(before)s::bigint IS NULL OR seq < %(before)s)
    ORDER BY seq DESC
    LIMIT %(limit)s
"""  # noqa: S608
SELECT_DELIVERY: Final = f"""
    SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = %(id)s AND endpoint_id = %(endpoint_id)s
"""  # noqa: S608
UPDATE_DELIVERY: Final = """
    UPDATE webhook_deliveries
    SET status = %(status)s, attempts = %(attempts)s, next_attempt_at = %(next_attempt_at)s,
        last_attempt_at = %(last_attempt_at)s, last_status_code = %(last_status_code)s, last_error = %(last_error)s,
        last_response = %(last_response)s, delivered_at = %(delivered_at)s
    WHERE id = %(id)s
"""
# The oldest due delivery of each endpoint that may be sent to, oldest first; rows another claim holds are skipped,
# and with them their endpoint (its oldest due one is the one held).
CLAIM: Final = """
    SELECT d.id AS d_id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
           d.last_attempt_at, d.last_status_code, d.last_error, d.last_response, d.created_at AS d_created_at,
           d.delivered_at, d.seq,
           ev.org_id AS ev_org_id, ev.type AS ev_type, ev.occurred_at AS ev_occurred_at, ev.body AS ev_body
    FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
    WHERE d.id IN (
        SELECT DISTINCT ON (p.endpoint_id) p.id
        FROM webhook_deliveries p JOIN webhook_endpoints e ON e.id = p.endpoint_id
        WHERE p.status = 'pending' AND p.next_attempt_at <= %(now)s
          AND (e.enabled OR p.event_type = 'webhook.test')
        ORDER BY p.endpoint_id, p.seq
    )
    ORDER BY d.seq
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
"""
SELECT_ENDPOINTS: Final = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ANY (%(ids)s)"  # noqa: S608
# Delivered: healthy again; what waits out a backoff is due at once.
HEAL: Final = """
    WITH healed AS (
        UPDATE webhook_endpoints SET failing_since = NULL
        WHERE id = %(endpoint_id)s AND failing_since IS NOT NULL
        RETURNING id
    )
    UPDATE webhook_deliveries SET next_attempt_at = %(now)s
    WHERE endpoint_id IN (SELECT id FROM healed) AND status = 'pending' AND next_attempt_at > %(now)s
"""
MARK_FAILING: Final = """
    UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, %(now)s)
    WHERE id = %(endpoint_id)s
    RETURNING failing_since
"""
DISABLE: Final = """
    UPDATE webhook_endpoints SET enabled = false, disabled_reason = %(reason)s
    WHERE id = %(endpoint_id)s AND enabled
    RETURNING id
"""


def _endpoint_params(endpoint: Endpoint) -> dict[str, Any]:
    return msgspec.structs.asdict(endpoint) | {"events": [e.value for e in endpoint.events]}


def _delivery_params(delivery: Delivery) -> dict[str, Any]:
    return msgspec.structs.asdict(delivery) | {"status": delivery.status.value}


# The delivery log's retention (application/housekeeping.py): settled deliveries, oldest first, in batches; then the
# events none is left for. Every CTE sees the rows as they were, so the deliveries being removed are left out of
# the check by hand. A retry by hand of a delivery being purged waits for it, then finds it gone (404).
PURGE_LOG: Final = """
    WITH settled AS (
        SELECT id, event_id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < %(before)s
        ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM webhook_deliveries d USING settled s WHERE d.id = s.id RETURNING d.event_id
    ), events AS (
        DELETE FROM webhook_events e
        WHERE e.id IN (SELECT event_id FROM gone)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                          WHERE d.event_id = e.id AND d.id NOT IN (SELECT id FROM settled))
    )
    SELECT count(*) AS purged FROM gone
"""


class PostgresWebhookRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, endpoint: Endpoint) -> None:
        self._session.write(INSERT_ENDPOINT, _endpoint_params(endpoint))

    async def get(self, org_id: UUID, endpoint_id: UUID, *, for_update: bool = False) -> Endpoint:
        query = SELECT_ENDPOINT_FOR_UPDATE if for_update else SELECT_ENDPOINT
        row = await self._session.row(query, {"id": endpoint_id, "org_id": org_id})
        if row is None:
            raise WebhookNotFound(endpoint_id)
        return row_as(row, Endpoint)

    async def update(self, endpoint: Endpoint) -> None:
        self._session.write(UPDATE_ENDPOINT, _endpoint_params(endpoint))

    async def delete(self, endpoint_id: UUID) -> None:
        self._session.write(DELETE_DELIVERIES, {"id": endpoint_id})
        self._session.write(DELETE_ENDPOINT, {"id": endpoint_id})

    async def page(self, org_id: UUID, *, limit: int, after: WebhookKey | None) -> list[Endpoint]:
        params = {
            "org_id": org_id, "limit": limit,
            "after_at": None if after is None else after.created_at, "after_id": None if after is None else after.id,
        }  # fmt: skip
        return [row_as(row, Endpoint) for row in await self._session.rows(SELECT_ENDPOINT_PAGE, params)]

    async def enqueue(self, event: WebhookEvent, *, now: datetime, endpoint_id: UUID | None = None) -> None:
        params = msgspec.structs.asdict(event) | {"type": event.type.value, "now": now, "endpoint_id": endpoint_id}
        self._session.write(ENQUEUE, params)

    async def deliveries(self, endpoint_id: UUID, *, limit: int, before: int | None) -> list[Delivery]:
        params = {"endpoint_id": endpoint_id, "limit": limit, "before": before}
        return [row_as(row, Delivery) for row in await self._session.rows(SELECT_DELIVERIES, params)]

    async def get_delivery(self, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
        row = await self._session.row(SELECT_DELIVERY, {"id": delivery_id, "endpoint_id": endpoint_id})
        if row is None:
            raise DeliveryNotFound(endpoint_id, delivery_id)
        return row_as(row, Delivery)

    async def update_delivery(self, delivery: Delivery) -> None:
        self._session.write(UPDATE_DELIVERY, _delivery_params(delivery))

    async def purge_log(self, *, before: datetime, limit: int) -> int:
        row = await self._session.row(PURGE_LOG, {"before": before, "limit": limit})
        return int(row["purged"]) if row else 0


DELIVERY_FIELDS: Final = (
    "endpoint_id", "event_id", "event_type", "status", "attempts", "next_attempt_at", "last_attempt_at",
    "last_status_code", "last_error", "last_response", "delivered_at", "seq",
)  # fmt: skip


def _due(row: dict[str, Any], endpoint: Endpoint) -> DueDelivery:
    fields = {"id": row["d_id"], "created_at": row["d_created_at"]} | {k: row[k] for k in DELIVERY_FIELDS}
    event = WebhookEvent(
        id=row["event_id"], org_id=row["ev_org_id"], type=EventType(row["ev_type"]), occurred_at=row["ev_occurred_at"],
        body=bytes(row["ev_body"]),
    )  # fmt: skip
    return DueDelivery(delivery=row_as(fields, Delivery), endpoint=endpoint, event=event)


class PostgresClaim:
    def __init__(self, session: Session, due: list[DueDelivery]) -> None:
        self._session = session
        self._due = due

    @property
    def due(self) -> list[DueDelivery]:
        return self._due

    async def settle(self, delivery: Delivery, *, now: datetime) -> datetime | None:
        self._session.write(UPDATE_DELIVERY, _delivery_params(delivery))
        if delivery.status is DeliveryStatus.DELIVERED:
            self._session.write(HEAL, {"endpoint_id": delivery.endpoint_id, "now": now})
            return None
        row = await self._session.row(MARK_FAILING, {"endpoint_id": delivery.endpoint_id, "now": now})
        return None if row is None else row["failing_since"]

    async def disable(self, endpoint_id: UUID, reason: str, event: AuditEvent) -> None:
        if await self._session.row(DISABLE, {"endpoint_id": endpoint_id, "reason": reason}) is not None:
            self._session.write(INSERT_EVENT, event_params(event))


class PostgresWebhookOutbox:
    """Claims on pooled connections; `wait` is woken by the change feed hearing migration 0014's notice (`notify`)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._queued = asyncio.Event()

    def notify(self) -> None:
        self._queued.set()

    @asynccontextmanager
    async def claim(self, *, now: datetime, limit: int) -> AsyncIterator[PostgresClaim]:
        async with translated_errors(), self._pool.connection() as conn:
            session = Session(conn)
            rows = await session.rows(CLAIM, {"now": now, "limit": limit})
            # A row another claim settled after this statement's snapshot comes back locked in its new version (READ
            # COMMITTED locks the newest version and re-checks only the outer WHERE, `d.id IN (...)`): no longer due,
            # it is dropped, or a delivered row would be sent again. Tested here, not in CLAIM, whose plan it spoils.
            rows = [r for r in rows if r["status"] == DeliveryStatus.PENDING.value and r["next_attempt_at"] <= now]
            endpoints: dict[UUID, Endpoint] = {}
            if rows:
                found = await session.rows(SELECT_ENDPOINTS, {"ids": list({r["endpoint_id"] for r in rows})})
                endpoints = {e.id: e for e in (row_as(r, Endpoint) for r in found)}
            yield PostgresClaim(session, [_due(r, endpoints[r["endpoint_id"]]) for r in rows])
            await session.commit()

    async def wait(self, timeout_s: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._queued.wait(), timeout_s)
        self._queued.clear()
