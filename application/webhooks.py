"""Webhooks: owners and admins register endpoints; the running service delivers every change to them (deliver_due).

The events themselves are written by application/audit.py's `record`, in the transaction of the change: every
audited change of an agent that is a webhook event (domain/webhooks.py, EVENT_OF_ACTION) is queued there.
"""

import asyncio
import base64
import logging
import random
import secrets
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from application.deps import Deps
from application.pagination import DeliveryKey, Page, WebhookKey, checked_limit, decode_cursor, page_of
from application.ports import UnitOfWork, WebhookSender
from domain import webhooks as rules
from domain.audit import Action, AuditEvent
from domain.roles import Principal, ensure_can_manage, ensure_manage_scope
from domain.webhooks import Delivery, DeliveryStatus, Endpoint

log = logging.getLogger("org_agents.webhooks")

SERVICE_ACTOR: Final = "org-agents"  # who disables an endpoint that keeps failing
DISABLED_REASON: Final = "disabled by org-agents: every delivery failed for {days} days"


class CreateWebhook(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    events: list[str]
    description: str | None = None


class ListWebhooks(msgspec.Struct, frozen=True, kw_only=True):
    limit: int | None = None
    cursor: str | None = None


class GetWebhook(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: UUID


class UpdateWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """Only the fields given change; `description` null clears it."""

    webhook_id: UUID
    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET


class ListDeliveries(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: UUID
    limit: int | None = None
    cursor: str | None = None


class RetryDelivery(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: UUID
    delivery_id: UUID


class NewSecret(msgspec.Struct, frozen=True, kw_only=True):
    webhook: Endpoint
    secret: str  # shown in this answer only


class TestSent(msgspec.Struct, frozen=True, kw_only=True):
    event_id: UUID
    delivery: Delivery


def _new_secret() -> str:
    return rules.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(rules.SECRET_BYTES)).decode()


async def _audit(
    uow: UnitOfWork, deps: Deps, who: Principal, action: Action, endpoint: Endpoint, **details: Any
) -> None:
    event = AuditEvent(
        id=deps.ids.new_id(), org_id=who.org_id, actor=who.user_id, action=action, target_id=endpoint.id,
        occurred_at=deps.clock.now(), details={"url": endpoint.url, **details},
    )  # fmt: skip
    await uow.audit.record(event)


async def create_webhook(deps: Deps, who: Principal, cmd: CreateWebhook) -> NewSecret:
    """Owners and admins register an endpoint of their organization, enabled, told of the events it names from then
    on. The secret is in this answer only."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    now = deps.clock.now()
    url = rules.checked_url(cmd.url, allow_private=deps.allow_private_webhooks)
    endpoint = Endpoint(
        id=deps.ids.new_id(), org_id=who.org_id, url=url, events=rules.checked_events(cmd.events),
        description=rules.checked_description(cmd.description), enabled=True, secret=_new_secret(), created_at=now,
        updated_at=now,
    )  # fmt: skip
    async with deps.uow() as uow:
        await uow.webhooks.add(endpoint)
        await _audit(uow, deps, who, Action.WEBHOOK_CREATE, endpoint, events=[e.value for e in endpoint.events])
        await uow.commit()
    return NewSecret(webhook=endpoint, secret=endpoint.secret)


def _key(endpoint: Endpoint) -> WebhookKey:
    return WebhookKey(created_at=endpoint.created_at, id=endpoint.id)


async def list_webhooks(deps: Deps, who: Principal, cmd: ListWebhooks) -> Page[Endpoint]:
    """The organization's endpoints, newest first; never a secret (the wire types leave it out)."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    limit = checked_limit(cmd.limit)
    after = decode_cursor(cmd.cursor, WebhookKey)
    async with deps.uow(read_only=True) as uow:
        rows = await uow.webhooks.page(who.org_id, limit=limit + 1, after=after)
    return page_of(rows, limit, _key)


async def get_webhook(deps: Deps, who: Principal, cmd: GetWebhook) -> Endpoint:
    ensure_manage_scope(who)
    ensure_can_manage(who)
    async with deps.uow(read_only=True) as uow:
        return await uow.webhooks.get(who.org_id, cmd.webhook_id)


async def update_webhook(deps: Deps, who: Principal, cmd: UpdateWebhook) -> Endpoint:
    """Changes the URL, the events, the description or whether it is enabled. Enabling it again (after the service
    disabled it, say) clears the reason and its failures; its pending deliveries are then sent."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    changes: dict[str, Any] = {}
    if cmd.url is not msgspec.UNSET:
        changes["url"] = rules.checked_url(cmd.url, allow_private=deps.allow_private_webhooks)
    if cmd.events is not msgspec.UNSET:
        changes["events"] = rules.checked_events(cmd.events)
    if cmd.description is not msgspec.UNSET:
        changes["description"] = rules.checked_description(cmd.description)
    if cmd.enabled is not msgspec.UNSET:
        changes["enabled"] = cmd.enabled
    async with deps.uow() as uow:
        before = await uow.webhooks.get(who.org_id, cmd.webhook_id, for_update=True)
        changed = {field: value for field, value in changes.items() if getattr(before, field) != value}
        if not changed:
            return before
        if changed.get("enabled") is True:
            changed |= {"disabled_reason": None, "failing_since": None}
        elif changed.get("enabled") is False:
            changed |= {"disabled_reason": None}
        after = msgspec.structs.replace(before, updated_at=deps.clock.now(), **changed)
        await uow.webhooks.update(after)
        shown = {f: _shown(getattr(after, f)) for f in changed if f in changes}
        earlier = {f: _shown(getattr(before, f)) for f in shown}
        await _audit(uow, deps, who, Action.WEBHOOK_UPDATE, after, before=earlier, after=shown)
        await uow.commit()
    return after


def _shown(value: object) -> object:
    return [e.value for e in value] if isinstance(value, tuple) else value


async def delete_webhook(deps: Deps, who: Principal, cmd: GetWebhook) -> None:
    """The endpoint and its delivery log; nothing more is sent to it (a delivery in flight finishes)."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    async with deps.uow() as uow:
        endpoint = await uow.webhooks.get(who.org_id, cmd.webhook_id)  # not held: storage takes its deliveries first
        await uow.webhooks.delete(endpoint.id)
        await _audit(uow, deps, who, Action.WEBHOOK_DELETE, endpoint)
        await uow.commit()


async def rotate_webhook_secret(deps: Deps, who: Principal, cmd: GetWebhook) -> NewSecret:
    """A new secret, in this answer only. For a day (ROTATION_GRACE) deliveries carry signatures by both the new and
    the old secret, so receivers can switch without losing one."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    now = deps.clock.now()
    async with deps.uow() as uow:
        before = await uow.webhooks.get(who.org_id, cmd.webhook_id, for_update=True)
        after = msgspec.structs.replace(
            before, secret=_new_secret(), previous_secret=before.secret,
            previous_secret_until=now + rules.ROTATION_GRACE, updated_at=now,
        )  # fmt: skip
        await uow.webhooks.update(after)
        await _audit(uow, deps, who, Action.WEBHOOK_ROTATE, after)
        await uow.commit()
    return NewSecret(webhook=after, secret=after.secret)


async def send_test_event(deps: Deps, who: Principal, cmd: GetWebhook) -> TestSent:
    """Queues a `webhook.test` event to this endpoint only, sent even while it is disabled."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    now = deps.clock.now()
    async with deps.uow() as uow:
        endpoint = await uow.webhooks.get(who.org_id, cmd.webhook_id)
        event = rules.test_event(event_id=deps.ids.new_id(), org_id=who.org_id, endpoint_id=endpoint.id,
                                 actor=who.user_id, now=now)  # fmt: skip
        await uow.webhooks.enqueue(event, now=now, endpoint_id=endpoint.id)
        page = await uow.webhooks.deliveries(endpoint.id, limit=1, before=None)
        await uow.commit()
    return TestSent(event_id=event.id, delivery=page[0])


def _delivery_key(delivery: Delivery) -> DeliveryKey:
    return DeliveryKey(seq=delivery.seq)


async def list_deliveries(deps: Deps, who: Principal, cmd: ListDeliveries) -> Page[Delivery]:
    """The endpoint's delivery log, newest first: each event's status, attempts, last answer and next attempt."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    limit = checked_limit(cmd.limit)
    before = decode_cursor(cmd.cursor, DeliveryKey)
    async with deps.uow(read_only=True) as uow:
        endpoint = await uow.webhooks.get(who.org_id, cmd.webhook_id)
        rows = await uow.webhooks.deliveries(
            endpoint.id, limit=limit + 1, before=None if before is None else before.seq
        )
    return page_of(rows, limit, _delivery_key)


async def retry_delivery(deps: Deps, who: Principal, cmd: RetryDelivery) -> Delivery:
    """Queues a delivery again, due now, with a new schedule of attempts: a failed one, a pending one (its backoff
    skipped), or a delivered one (sent again with the same event id, which receivers deduplicate on)."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    now = deps.clock.now()
    async with deps.uow() as uow:
        endpoint = await uow.webhooks.get(who.org_id, cmd.webhook_id)
        delivery = await uow.webhooks.get_delivery(endpoint.id, cmd.delivery_id)
        again = msgspec.structs.replace(delivery, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
        await uow.webhooks.update_delivery(again)
        await uow.commit()
    return again


# -- delivery ---------------------------------------------------------------------------------------------------


async def deliver_due(deps: Deps, sender: WebhookSender, *, limit: int) -> int:
    """One round of the delivery worker: claims up to `limit` due deliveries (one per endpoint), sends them at once,
    and records each outcome; an endpoint failing for DISABLE_AFTER is disabled, audited. Returns how many were
    attempted (0: nothing was due)."""
    async with deps.outbox.claim(now=deps.clock.now(), limit=limit) as claimed:
        due = claimed.due
        if not due:
            return 0
        started = deps.clock.now()
        outcomes = await asyncio.gather(
            *(
                sender.send(
                    d.endpoint.url,
                    message_id=str(d.event.id),
                    timestamp=started,
                    body=d.event.body,
                    secrets=d.endpoint.signing_secrets(started),
                )
                for d in due
            )
        )
        for item, outcome in zip(due, outcomes, strict=True):
            now = deps.clock.now()
            delivery = rules.after_attempt(item.delivery, outcome, now=now, jitter=random.random())  # noqa: S311
            failing_since = await claimed.settle(delivery, now=now)
            if delivery.status is not DeliveryStatus.DELIVERED:
                log.info("webhook %s: delivery %s failed (%s)", item.endpoint.id, delivery.id,
                         outcome.status_code or outcome.error)  # fmt: skip
            endpoint = msgspec.structs.replace(item.endpoint, failing_since=failing_since)
            if delivery.status is not DeliveryStatus.DELIVERED and rules.should_disable(endpoint, now=now):
                reason = DISABLED_REASON.format(days=rules.DISABLE_AFTER.days)
                event = AuditEvent(
                    id=deps.ids.new_id(), org_id=endpoint.org_id, actor=SERVICE_ACTOR, action=Action.WEBHOOK_DISABLE,
                    target_id=endpoint.id, occurred_at=now,
                    details={"url": endpoint.url, "reason": reason, "failing_since": _iso(failing_since)},
                )  # fmt: skip
                await claimed.disable(endpoint.id, reason, event)
                log.warning("webhook %s disabled: %s", endpoint.id, reason)
    return len(due)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
