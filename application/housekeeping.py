"""Retention: what the service forgets, and when. Idempotency-Keys once their 24 hours are over (their answers are
never given again); audit events older than the configured retention (kept forever unless one is set); settled
webhook deliveries (delivered or failed) older than theirs, with the events none is left for. Every running service
purges a batch at a time, oldest first, each batch its own transaction, so a purge never holds many rows for long
and several workers purging at once skip each other's rows."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final

import msgspec

from application.deps import Deps
from application.ports import UnitOfWork
from domain.idempotency import TTL

PURGE_BATCH: Final = 1_000
PurgeBatch = Callable[[UnitOfWork], Awaitable[int]]
DEFAULT_WEBHOOK_LOG_DAYS: Final = 30.0


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    audit_days: float | None = None  # None: audit events are kept forever
    webhook_log_days: float = DEFAULT_WEBHOOK_LOG_DAYS


class Purged(msgspec.Struct, frozen=True, kw_only=True):
    idempotency_keys: int = 0
    audit_events: int = 0
    webhook_deliveries: int = 0


async def purge_expired(deps: Deps, retention: Retention, *, batch: int = PURGE_BATCH) -> Purged:
    """Forgets everything past its time, as of now; returns how much."""
    now = deps.clock.now()

    async def purged(purge_one_batch: PurgeBatch) -> int:
        total = 0
        while True:
            async with deps.uow() as uow:
                count = await purge_one_batch(uow)
                await uow.commit()
            total += count
            if count < batch:
                return total

    keys = await purged(lambda uow: uow.idempotency.purge(before=now - TTL, limit=batch))
    events = 0
    if retention.audit_days is not None:
        audit_before = now - timedelta(days=retention.audit_days)
        events = await purged(lambda uow: uow.audit.purge(before=audit_before, limit=batch))
    log_before = now - timedelta(days=retention.webhook_log_days)
    deliveries = await purged(lambda uow: uow.webhooks.purge_log(before=log_before, limit=batch))
    return Purged(idempotency_keys=keys, audit_events=events, webhook_deliveries=deliveries)
