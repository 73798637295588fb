"""Retention (issue 20, item 5), on both adapters: Idempotency-Keys are forgotten once their 24 hours are over and keep
a bounded answer meanwhile; audit events past the configured retention, and settled webhook deliveries past theirs,
are purged in batches; nothing younger, and no pending delivery, is touched."""

import asyncio
import dataclasses
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import pytest

from application.agents import CreateAgent, CreateAgentWithBlueprint, create_agent, create_agent_with_blueprint
from application.blueprints import AddVersion, add_version
from application.deps import Deps
from application.housekeeping import Purged, Retention, purge_expired
from application.webhooks import CreateWebhook, create_webhook
from domain.idempotency import TTL
from entrypoints.housekeeping_worker import purge_forever
from tests.contract.test_audit import whole_trail
from tests.contract.test_webhooks import drain, log_of, real_time
from tests.receivers import http_sender, receiver
from tests.samples import clock_of, shop_buddy, team

pytestmark = pytest.mark.anyio

FOREVER = Retention(audit_days=None, webhook_log_days=10_000)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def stored_answer(deps: Deps, org_id: UUID, key: str) -> bytes | None:
    """What storage holds for the key, however old (the use cases ignore what is past its TTL)."""
    async with deps.uow() as uow:
        found = await uow.idempotency.find(org_id, key, since=EPOCH)
    return None if found is None else found.response


async def test_a_key_keeps_its_answer_without_the_document_and_a_retry_still_gets_it_whole(deps: Deps) -> None:
    acme = await team(deps, "acme")
    big = shop_buddy() | {"notes": ["a long line of notes " * 40] * 250}  # about 200 KiB
    ask = CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=big, idempotency_key="with-1")
    first = await create_agent_with_blueprint(deps, acme.member, ask)
    version = AddVersion(agent_id=first.agent.id, agent_blueprint=big, idempotency_key="v-2")
    v2 = await add_version(deps, acme.member, version)

    for key in ("with-1", "v-2"):
        kept = await stored_answer(deps, acme.member.org_id, key)
        assert kept is not None
        assert len(kept) < 4_096, len(kept)  # the document (200 KiB) is not in it
        assert b"long line of notes" not in kept
    clock_of(deps).advance(60)
    assert await create_agent_with_blueprint(deps, acme.member, ask) == first
    assert (await add_version(deps, acme.member, version)).agent_blueprint == big
    assert await add_version(deps, acme.member, version) == v2


async def test_keys_past_their_24_hours_are_purged_and_younger_ones_still_answer(deps: Deps) -> None:
    acme = await team(deps, "acme")
    old = await create_agent(deps, acme.member, CreateAgent(name="Old", idempotency_key="old"))
    clock_of(deps).advance(23 * 3600)
    young = await create_agent(deps, acme.member, CreateAgent(name="Young", idempotency_key="young"))
    clock_of(deps).advance(3600 + 1)  # "old" is 24 h and 1 s old, "young" 1 h and 1 s

    assert await purge_expired(deps, FOREVER) == Purged(idempotency_keys=1)
    assert await stored_answer(deps, acme.member.org_id, "old") is None
    assert await create_agent(deps, acme.member, CreateAgent(name="Young", idempotency_key="young")) == young
    assert await purge_expired(deps, FOREVER) == Purged()  # nothing more is due
    again = await create_agent(deps, acme.member, CreateAgent(name="Old", idempotency_key="old"))
    assert again.id != old.id  # a forgotten key may be used again, for a new request


async def test_audit_events_past_the_retention_are_purged_in_batches_and_none_without_one(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for n in range(5):
        await create_agent(deps, acme.member, CreateAgent(name=f"Old {n}"))
    clock_of(deps).advance(2 * 86400)
    await create_agent(deps, acme.member, CreateAgent(name="Recent"))
    trail = await whole_trail(deps, acme.owner)

    assert (await purge_expired(deps, FOREVER)).audit_events == 0
    assert len(await whole_trail(deps, acme.owner)) == len(trail)
    purged = await purge_expired(deps, Retention(audit_days=1), batch=2)  # three batches: 2, 2, then 1
    older = [event for event in trail if event.occurred_at < clock_of(deps).now() - timedelta(days=1)]
    assert purged.audit_events == len(older) >= 5
    assert [event.id for event in await whole_trail(deps, acme.owner)] == [
        event.id for event in trail if event not in older
    ]


async def test_settled_deliveries_past_their_days_are_purged_and_pending_ones_are_kept(deps: Deps) -> None:
    hooks = dataclasses.replace(deps, allow_private_webhooks=True)
    acme = await team(hooks, "acme")
    kept = Retention(webhook_log_days=30 / 86400)  # 30 seconds: receivers check signatures against the real time
    with receiver() as hook:
        real_time(hooks)
        webhook = await create_webhook(hooks, acme.owner, CreateWebhook(url=hook.url, events=["agent.created"]))
        await create_agent(hooks, acme.member, CreateAgent(name="Delivered"))
        async with http_sender(allow_private=True, timeout_s=5) as sender:
            assert await drain(hooks, sender) == 1
        await create_agent(hooks, acme.member, CreateAgent(name="Pending"))  # queued, not attempted yet
        assert (await purge_expired(hooks, kept)).webhook_deliveries == 0  # neither is 30 s old

        real_time(hooks, timedelta(minutes=1))
        assert (await purge_expired(hooks, kept)).webhook_deliveries == 1
        [left] = await log_of(hooks, acme.owner, webhook.webhook.id)
        assert left.status.value == "pending"
        real_time(hooks, timedelta(days=365))
        assert (await purge_expired(hooks, kept)).webhook_deliveries == 0  # pending: kept however old

        real_time(hooks)
        async with http_sender(allow_private=True, timeout_s=5) as sender:
            assert await drain(hooks, sender) == 1  # and still sent, its event intact
        assert [msgspec.json.decode(r.body)["type"] for r in hook.received] == ["agent.created"] * 2


async def test_the_worker_purges_as_soon_as_it_starts(deps: Deps) -> None:
    acme = await team(deps, "acme")
    await create_agent(deps, acme.member, CreateAgent(name="Old", idempotency_key="old"))
    clock_of(deps).advance(TTL.total_seconds() + 1)
    worker = asyncio.create_task(purge_forever(deps, FOREVER, every_s=0.01))
    try:
        async with asyncio.timeout(10):
            while await stored_answer(deps, acme.member.org_id, "old") is not None:  # noqa: ASYNC110 (storage is what tells)
                await asyncio.sleep(0.01)
    finally:
        worker.cancel()
        with suppress(asyncio.CancelledError):
            await worker
    assert worker.cancelled()
