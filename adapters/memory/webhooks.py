"""Webhook endpoints, their outbox and delivery log in process memory, with the semantics of the PostgreSQL store."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import msgspec

from application.pagination import WebhookKey
from application.ports import DueDelivery
from domain.audit import AuditEvent
from domain.errors import DeliveryNotFound, WebhookNotFound
from domain.webhooks import Delivery, DeliveryStatus, Endpoint, EventType, WebhookEvent

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState, InMemoryStore


class InMemoryWebhookRepository:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def add(self, endpoint: Endpoint) -> None:
        self._state.webhooks[endpoint.id] = endpoint

    async def get(self, org_id: UUID, endpoint_id: UUID, *, for_update: bool = False) -> Endpoint:
        found = self._state.webhooks.get(endpoint_id)
        if found is None or found.org_id != org_id:
            raise WebhookNotFound(endpoint_id)
        return found

    async def update(self, endpoint: Endpoint) -> None:
        self._state.webhooks[endpoint.id] = endpoint

    async def delete(self, endpoint_id: UUID) -> None:
        del self._state.webhooks[endpoint_id]
        for delivery in [d for d in self._state.deliveries.values() if d.endpoint_id == endpoint_id]:
            del self._state.deliveries[delivery.id]

    async def page(self, org_id: UUID, *, limit: int, after: WebhookKey | None) -> list[Endpoint]:
        rows = sorted(
            (e for e in self._state.webhooks.values() if e.org_id == org_id),
            key=lambda e: (e.created_at, e.id),
            reverse=True,
        )
        if after is not None:
            rows = [e for e in rows if (e.created_at, e.id) < (after.created_at, after.id)]
        return rows[:limit]

    async def enqueue(self, event: WebhookEvent, *, now: datetime, endpoint_id: UUID | None = None) -> None:
        if endpoint_id is not None:
            found = self._state.webhooks.get(endpoint_id)
            targets = [] if found is None or found.org_id != event.org_id else [found]
        else:
            targets = sorted(
                (e for e in self._state.webhooks.values()
                 if e.org_id == event.org_id and e.enabled and event.type in e.events),
                key=lambda e: (e.created_at, e.id),
            )  # fmt: skip
        if not targets:
            return
        self._state.webhook_events[event.id] = event
        for endpoint in targets:
            self._state.last_delivery_seq += 1
            delivery = Delivery(
                id=uuid4(), endpoint_id=endpoint.id, event_id=event.id, event_type=event.type,
                status=DeliveryStatus.PENDING, created_at=now, next_attempt_at=now, seq=self._state.last_delivery_seq,
            )  # fmt: skip
            self._state.deliveries[delivery.id] = delivery

    async def deliveries(self, endpoint_id: UUID, *, limit: int, before: int | None) -> list[Delivery]:
        rows = sorted(
            (d for d in self._state.deliveries.values()
             if d.endpoint_id == endpoint_id and (before is None or d.seq < before)),
            key=lambda d: d.seq,
            reverse=True,
        )  # fmt: skip
        return rows[:limit]

    async def get_delivery(self, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
        found = self._state.deliveries.get(delivery_id)
        if found is None or found.endpoint_id != endpoint_id:
            raise DeliveryNotFound(endpoint_id, delivery_id)
        return found

    async def update_delivery(self, delivery: Delivery) -> None:
        before = self._state.deliveries.get(delivery.id)
        if delivery.status is DeliveryStatus.PENDING and (
            before is None or before.next_attempt_at != delivery.next_attempt_at
        ):
            self._state.deliveries_made_due += 1
        self._state.deliveries[delivery.id] = delivery

    async def purge_log(self, *, before: datetime, limit: int) -> int:
        settled = sorted(
            (d for d in self._state.deliveries.values()
             if d.status is not DeliveryStatus.PENDING and d.created_at < before),
            key=lambda d: d.seq,
        )[:limit]  # fmt: skip
        for delivery in settled:
            del self._state.deliveries[delivery.id]
        referred = {d.event_id for d in self._state.deliveries.values()}
        for event_id in {d.event_id for d in settled} - referred:
            del self._state.webhook_events[event_id]
        return len(settled)


class InMemoryClaim:
    def __init__(self, store: "InMemoryStore", due: list[DueDelivery]) -> None:
        self._store = store
        self._due = due

    @property
    def due(self) -> list[DueDelivery]:
        return self._due

    async def settle(self, delivery: Delivery, *, now: datetime) -> datetime | None:
        async with self._store.lock:
            state = self._store.state
            if delivery.id not in state.deliveries:
                return None  # its endpoint was deleted meanwhile
            state.deliveries[delivery.id] = delivery
            endpoint = state.webhooks[delivery.endpoint_id]
            if delivery.status is DeliveryStatus.DELIVERED:
                state.webhooks[endpoint.id] = msgspec.structs.replace(endpoint, failing_since=None)
                for other in list(state.deliveries.values()):
                    if (other.endpoint_id == endpoint.id and other.status is DeliveryStatus.PENDING
                            and other.next_attempt_at is not None and other.next_attempt_at > now):  # fmt: skip
                        state.deliveries[other.id] = msgspec.structs.replace(other, next_attempt_at=now)
                return None
            failing_since = endpoint.failing_since or now
            state.webhooks[endpoint.id] = msgspec.structs.replace(endpoint, failing_since=failing_since)
            return failing_since

    async def disable(self, endpoint_id: UUID, reason: str, event: AuditEvent) -> None:
        async with self._store.lock:
            state = self._store.state
            endpoint = state.webhooks.get(endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return
            state.webhooks[endpoint_id] = msgspec.structs.replace(endpoint, enabled=False, disabled_reason=reason)
            state.audit.append(event)


class InMemoryWebhookOutbox:
    """Claims are marks on the endpoints in flight, held by this process (the only one using this store)."""

    def __init__(self, store: "InMemoryStore") -> None:
        self._store = store
        self._in_flight: set[UUID] = set()

    @asynccontextmanager
    async def claim(self, *, now: datetime, limit: int) -> AsyncIterator[InMemoryClaim]:
        async with self._store.lock:
            state = self._store.state
            due: list[DueDelivery] = []
            taken: set[UUID] = set()
            for delivery in sorted(state.deliveries.values(), key=lambda d: d.seq):
                if len(due) >= limit:
                    break
                if delivery.status is not DeliveryStatus.PENDING or delivery.next_attempt_at is None:
                    continue
                if delivery.next_attempt_at > now or delivery.endpoint_id in taken | self._in_flight:
                    continue
                endpoint = state.webhooks[delivery.endpoint_id]
                if endpoint.enabled or delivery.event_type is EventType.WEBHOOK_TEST:
                    due.append(
                        DueDelivery(delivery=delivery, endpoint=endpoint, event=state.webhook_events[delivery.event_id])
                    )
                    taken.add(endpoint.id)
            claimed = {d.endpoint.id for d in due}
            self._in_flight |= claimed
        try:
            yield InMemoryClaim(self._store, due)
        finally:
            self._in_flight -= claimed

    async def wait(self, timeout_s: float) -> None:
        queued = self._store.deliveries_queued
        with suppress(TimeoutError):
            await asyncio.wait_for(queued.wait(), timeout_s)
        queued.clear()
