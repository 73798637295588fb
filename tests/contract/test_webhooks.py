"""Webhooks through the use cases, on both adapters: endpoints (who may manage them, tenancy, pages), the events the
real use cases queue in their own transaction, and delivery (`deliver_due`) by the real HTTP sender to receivers on
loopback: signatures, retries on the schedule (the fixed clock is moved, nothing waits), claims, auto-disable and
secret rotation."""

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

import msgspec
import psycopg
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.webhook_sender import HttpWebhookSender
from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    create_agent_with_blueprint,
    deactivate_agent,
    delete_agent,
    update_agent,
)
from application.blueprints import AddVersion, CompileVersion, GetVersion, add_version, compile_version, get_version
from application.deps import Deps
from application.labels import DeleteLabel, MoveLabel, delete_label, move_label_to
from application.pagination import MAX_LIMIT
from application.tokens import CreateToken, authenticate, create_token
from application.webhooks import (
    SERVICE_ACTOR,
    CreateWebhook,
    GetWebhook,
    ListDeliveries,
    ListWebhooks,
    NewSecret,
    RetryDelivery,
    UpdateWebhook,
    create_webhook,
    delete_webhook,
    deliver_due,
    get_webhook,
    list_deliveries,
    list_webhooks,
    retry_delivery,
    rotate_webhook_secret,
    send_test_event,
    update_webhook,
)
from domain.agents import Agent
from domain.audit import Action
from domain.blueprints import CompilationStatus
from domain.errors import (
    DeliveryNotFound,
    Invalid,
    InvalidBlueprint,
    LabelChanged,
    Malformed,
    RoleTooLow,
    ScopeTooNarrow,
    WebhookNotFound,
)
from domain.roles import Principal, Role, Scope
from domain.webhooks import (
    DISABLE_AFTER,
    EVENT_OF_ACTION,
    JITTER,
    MAX_ATTEMPTS,
    MAX_RESPONSE_EXCERPT,
    MAX_RETRY_AFTER_S,
    RETRY_DELAYS_S,
    ROTATION_GRACE,
    SECRET_PREFIX,
    SUBSCRIBABLE,
    Delivery,
    DeliveryStatus,
    EventType,
    Outcome,
    after_attempt,
)
from tests.contract.test_audit import IdSourceDown, failing_on, whole_trail
from tests.receivers import Receiver, http_sender, receiver
from tests.samples import Team, clock_of, missing_identity_name, shop_buddy, team

pytestmark = pytest.mark.anyio

ALL: Final = [t.value for t in SUBSCRIBABLE]
SEND_TIMEOUT_S: Final = 5.0  # loopback receivers answer in milliseconds; this only bounds a broken test
TICK: Final = timedelta(microseconds=1)


@pytest.fixture
def hooks(deps: Deps) -> Deps:
    """The deps, allowed to target loopback receivers over http (as tests and development are)."""
    return dataclasses.replace(deps, allow_private_webhooks=True)


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    async with http_sender(allow_private=True, timeout_s=SEND_TIMEOUT_S) as made:
        yield made


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as made:
        yield made


def real_time(deps: Deps, offset: timedelta = timedelta(0)) -> datetime:
    """Sets the fixed clock to the real time (plus `offset`): receivers refuse signatures more than five minutes
    from their own clock, as Standard Webhooks asks."""
    clock = clock_of(deps)
    clock.current = datetime.now(UTC) + offset
    return clock.current


async def endpoint(deps: Deps, who: Principal, url: str, events: list[str] | None = None) -> NewSecret:
    return await create_webhook(deps, who, CreateWebhook(url=url, events=ALL if events is None else events))


async def drain(deps: Deps, sender: HttpWebhookSender) -> int:
    """Rounds of the worker until nothing is due; how many attempts they made."""
    attempted = 0
    for _ in range(200):
        made = await deliver_due(deps, sender, limit=8)
        if made == 0:
            return attempted
        attempted += made
    raise AssertionError("deliveries kept coming due")


async def log_of(deps: Deps, who: Principal, webhook_id: UUID) -> list[Delivery]:
    """The endpoint's whole delivery log, newest first."""
    found: list[Delivery] = []
    cursor = None
    while True:
        page = await list_deliveries(deps, who, ListDeliveries(webhook_id=webhook_id, limit=MAX_LIMIT, cursor=cursor))
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def only_delivery(deps: Deps, who: Principal, webhook_id: UUID) -> Delivery:
    [delivery] = await log_of(deps, who, webhook_id)
    return delivery


async def agent_of(deps: Deps, acme: Team, name: str = "Shop Buddy") -> Agent:
    return await create_agent(deps, acme.member, CreateAgent(name=name))


def types_of(received: Receiver) -> list[str]:
    return [msgspec.json.decode(r.body)["type"] for r in received.received]


# -- every event, queued by the real use cases, arrives signed --------------------------------------------------


async def test_every_event_type_is_queued_by_its_change_and_arrives_signed_with_the_audit_events_id(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    real_time(hooks)
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    agent = await agent_of(hooks, acme)
    await update_agent(hooks, acme.admin, UpdateAgent(agent_id=agent.id, name="Shop Buddy II"))
    await deactivate_agent(hooks, acme.admin, SetStatus(agent_id=agent.id))
    await activate_agent(hooks, acme.admin, SetStatus(agent_id=agent.id))
    version = await add_version(hooks, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(hooks, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    broken = await add_version(
        hooks, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=missing_identity_name())
    )
    with pytest.raises(InvalidBlueprint):  # the failure is committed, then reported
        await compile_version(hooks, acme.admin, CompileVersion(agent_id=agent.id, version_id=broken.id))
    await move_label_to(hooks, acme.admin, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=version.id))
    await delete_label(hooks, acme.admin, DeleteLabel(agent_id=agent.id, name="staging"))
    await delete_agent(hooks, acme.admin, SetStatus(agent_id=agent.id))

    assert await drain(hooks, sender) == 11

    expected = [
        "agent.created", "agent.updated", "agent.status_changed", "agent.status_changed", "version.created",
        "version.compiled", "version.created", "version.compile_failed", "label.moved", "label.deleted",
        "agent.status_changed",
    ]  # fmt: skip
    assert set(expected) == set(ALL)
    received = hook.wait_for(len(expected))
    bodies = [r.verified(made.secret) for r in received]
    assert [b["type"] for b in bodies] == expected
    changes = [e for e in await whole_trail(hooks, acme.owner) if e.action in EVENT_OF_ACTION]
    assert [r.event_id for r in received] == [str(e.id) for e in changes]
    assert {(b["data"]["org_id"], b["data"]["agent_id"]) for b in bodies} == {(str(acme.owner.org_id), str(agent.id))}
    assert [b["data"]["actor"] for b in bodies][:2] == [acme.member.user_id, acme.admin.user_id]
    assert [b["data"].get("action") for b in bodies if b["type"] == "agent.status_changed"] == [
        "agent.deactivate", "agent.activate", "agent.delete",
    ]  # fmt: skip
    assert [b["data"].get("version_id") for b in bodies[4:8]] == [str(version.id)] * 2 + [str(broken.id)] * 2
    assert bodies[8]["data"]["label"] == bodies[9]["data"]["label"] == "staging"
    log = await log_of(hooks, acme.admin, made.webhook.id)
    assert [(d.status, d.attempts, d.last_status_code) for d in log] == [(DeliveryStatus.DELIVERED, 1, 204)] * 11
    assert [d.event_type.value for d in reversed(log)] == expected


async def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    with receiver() as other:
        created = await endpoint(hooks, acme.admin, hook.url, ["agent.created"])
        releases = await endpoint(hooks, acme.admin, other.url, ["label.moved", "version.created", "label.moved"])
        assert releases.webhook.events == (EventType.VERSION_CREATED, EventType.LABEL_MOVED)
        agent = await agent_of(hooks, acme)
        version = await add_version(hooks, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
        await compile_version(hooks, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
        await move_label_to(hooks, acme.admin, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=version.id))

        await drain(hooks, sender)

        assert types_of(hook) == ["agent.created"]
        assert types_of(other) == ["version.created", "label.moved"]
        assert [d.event_type for d in await log_of(hooks, acme.admin, created.webhook.id)] == [EventType.AGENT_CREATED]
        assert [d.event_type for d in await log_of(hooks, acme.admin, releases.webhook.id)] == [
            EventType.LABEL_MOVED, EventType.VERSION_CREATED,
        ]  # fmt: skip


async def test_a_disabled_endpoint_gets_nothing_queued_until_it_is_enabled_again(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    off = await update_webhook(hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, enabled=False))
    assert (off.enabled, off.disabled_reason) == (False, None)

    await agent_of(hooks, acme, "while off")
    assert await log_of(hooks, acme.admin, made.webhook.id) == []

    await update_webhook(hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, enabled=True))
    later = await agent_of(hooks, acme, "once on")
    await drain(hooks, sender)

    [only] = hook.received
    assert msgspec.json.decode(only.body)["data"]["agent_id"] == str(later.id)
    assert len(await log_of(hooks, acme.admin, made.webhook.id)) == 1


async def test_another_organizations_changes_never_reach_an_endpoint(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme, beta = await team(hooks, "acme"), await team(hooks, "beta")
    ours = await endpoint(hooks, acme.admin, hook.url)
    with receiver() as theirs:
        await endpoint(hooks, beta.admin, theirs.url)
        agent = await agent_of(hooks, beta)
        version = await add_version(hooks, beta.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
        await compile_version(hooks, beta.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

        assert await drain(hooks, sender) == 3

        assert types_of(theirs) == ["agent.created", "version.created", "version.compiled"]
        assert {msgspec.json.decode(r.body)["data"]["org_id"] for r in theirs.received} == {str(beta.owner.org_id)}
    assert (hook.attempts, await log_of(hooks, acme.admin, ours.webhook.id)) == (0, [])


# -- a rolled-back change sends nothing ---------------------------------------------------------------------------


async def test_a_compile_whose_label_move_is_refused_rolls_back_and_queues_nothing(hooks: Deps, hook: Receiver) -> None:
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    agent = await agent_of(hooks, acme)
    version = await add_version(hooks, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    before = await log_of(hooks, acme.admin, made.webhook.id)
    assert len(before) == 2

    stale = CompileVersion(agent_id=agent.id, version_id=version.id, label="staging", if_match=frozenset({"nope"}))
    with pytest.raises(LabelChanged):  # the compile was recorded (and its event queued) before the move failed
        await compile_version(hooks, acme.admin, stale)

    assert await log_of(hooks, acme.admin, made.webhook.id) == before
    kept = await get_version(hooks, acme.admin, GetVersion(agent_id=agent.id, version_id=version.id))
    assert kept.compilation_status is CompilationStatus.DRAFT


async def test_a_use_case_failing_after_it_queued_an_event_queues_nothing(hooks: Deps, hook: Receiver) -> None:
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    # ids: the agent, its version, agent.create's audit event (queued), then blueprint.create's: the fault
    broken = failing_on(hooks, 4)
    cmd = CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=shop_buddy())

    with pytest.raises(IdSourceDown):
        await create_agent_with_blueprint(broken, acme.member, cmd)

    assert await log_of(hooks, acme.admin, made.webhook.id) == []
    await create_agent_with_blueprint(hooks, acme.member, cmd)
    assert [d.event_type for d in await log_of(hooks, acme.admin, made.webhook.id)] == [
        EventType.VERSION_CREATED, EventType.AGENT_CREATED,
    ]  # fmt: skip


# -- retries ----------------------------------------------------------------------------------------------------


async def test_a_failing_receiver_is_retried_on_the_schedule_then_failed_and_retried_by_hand(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    clock = clock_of(hooks)
    made = await endpoint(hooks, acme.admin, hook.url, ["agent.created"])
    hook.status, hook.body = 500, b"x" * (3 * MAX_RESPONSE_EXCERPT)
    await agent_of(hooks, acme)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await deliver_due(hooks, sender, limit=8) == 1
        delivery = await only_delivery(hooks, acme.admin, made.webhook.id)
        assert (delivery.attempts, delivery.last_status_code, delivery.last_attempt_at) == (attempt, 500, clock.now())
        assert delivery.last_response == "x" * MAX_RESPONSE_EXCERPT
        if attempt == MAX_ATTEMPTS:
            break
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.next_attempt_at is not None
        scheduled = timedelta(seconds=RETRY_DELAYS_S[attempt - 1])
        assert scheduled * (1 - JITTER) - TICK <= delivery.next_attempt_at - clock.now() <= scheduled * (1 + JITTER)
        clock.current = delivery.next_attempt_at - TICK
        assert await deliver_due(hooks, sender, limit=8) == 0
        clock.current = delivery.next_attempt_at

    assert (delivery.status, delivery.next_attempt_at, delivery.delivered_at) == (DeliveryStatus.FAILED, None, None)
    assert (hook.attempts, hook.received) == (MAX_ATTEMPTS, [])
    clock.advance(7 * 86_400)
    assert await deliver_due(hooks, sender, limit=8) == 0

    again = await retry_delivery(hooks, acme.admin, RetryDelivery(webhook_id=made.webhook.id, delivery_id=delivery.id))
    assert (again.status, again.attempts, again.next_attempt_at) == (DeliveryStatus.PENDING, 0, clock.now())
    hook.status = 204
    assert await deliver_due(hooks, sender, limit=8) == 1

    done = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert (done.status, done.attempts, done.delivered_at, done.next_attempt_at) == (
        DeliveryStatus.DELIVERED, 1, clock.now(), None,
    )  # fmt: skip
    [arrived] = hook.wait_for(1)
    assert arrived.event_id == str(done.event_id)


async def test_a_retry_after_is_waited_for_up_to_an_hour(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    clock = clock_of(hooks)
    made = await endpoint(hooks, acme.admin, hook.url)
    hook.status, hook.retry_after = 503, "600"
    await agent_of(hooks, acme)

    assert await deliver_due(hooks, sender, limit=8) == 1
    first = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert first.next_attempt_at == clock.now() + timedelta(seconds=600)

    clock.current = first.next_attempt_at
    hook.retry_after = "86400"
    assert await deliver_due(hooks, sender, limit=8) == 1
    second = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert second.next_attempt_at == clock.now() + timedelta(seconds=MAX_RETRY_AFTER_S)


async def test_odd_answers_are_logged_and_never_stop_the_worker(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    clock = clock_of(hooks)
    made = await endpoint(hooks, acme.admin, hook.url)
    hook.status, hook.body = 500, b"bad\x00answer"  # PostgreSQL text cannot hold NUL
    await agent_of(hooks, acme)

    assert await deliver_due(hooks, sender, limit=8) == 1
    first = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert (first.attempts, first.last_status_code, first.last_response) == (1, 500, "bad\ufffdanswer")

    assert first.next_attempt_at is not None
    clock.current = first.next_attempt_at
    hook.body, hook.retry_after = b"busy", "\u00b2"  # a digit to str.isdigit(), not to float()
    assert await deliver_due(hooks, sender, limit=8) == 1
    second = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert (second.attempts, second.last_response) == (2, "busy")
    assert second.next_attempt_at is not None
    assert second.next_attempt_at - clock.now() <= timedelta(seconds=RETRY_DELAYS_S[1] * (1 + JITTER))


async def test_once_the_receiver_answers_again_deliveries_in_backoff_are_due_at_once(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    real_time(hooks)
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    hook.status = 500
    first, second = await agent_of(hooks, acme, "one"), await agent_of(hooks, acme, "two")
    assert [await deliver_due(hooks, sender, limit=8) for _ in range(3)] == [1, 1, 0]  # both wait out a backoff

    hook.status = 204
    test = await send_test_event(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))
    assert await deliver_due(hooks, sender, limit=8) == 1  # only the test event was due

    now = clock_of(hooks).now()
    waiting = [d for d in await log_of(hooks, acme.admin, made.webhook.id) if d.status is DeliveryStatus.PENDING]
    assert [(d.attempts, d.next_attempt_at) for d in waiting] == [(1, now), (1, now)]
    assert await drain(hooks, sender) == 2
    bodies = [r.verified(made.secret) for r in hook.received]
    assert hook.received[0].event_id == str(test.event_id)
    assert [b["data"].get("agent_id") for b in bodies] == [None, str(first.id), str(second.id)]


# -- claims -------------------------------------------------------------------------------------------------------


async def test_two_claims_open_at_once_share_no_delivery_and_no_endpoint(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    made = [await endpoint(hooks, acme.admin, hook.url, ["agent.created"]) for _ in range(3)]
    await agent_of(hooks, acme, "one")
    await agent_of(hooks, acme, "two")  # each endpoint has two deliveries due
    oldest = {m.webhook.id: (await log_of(hooks, acme.admin, m.webhook.id))[-1].id for m in made}
    now = clock_of(hooks).now()

    async with (
        hooks.outbox.claim(now=now, limit=2) as first,
        hooks.outbox.claim(now=now, limit=10) as second,
        hooks.outbox.claim(now=now, limit=10) as third,
    ):
        held = [d.delivery for d in first.due], [d.delivery for d in second.due], [d.delivery for d in third.due]
    # left without settling: all of them are due again

    assert [len(h) for h in held] == [2, 1, 0]
    claimed = held[0] + held[1]
    assert len({d.endpoint_id for d in claimed}) == 3  # never two of one endpoint, nor one twice
    assert {d.endpoint_id: d.id for d in claimed} == oldest  # each endpoint's oldest first
    assert await drain(hooks, sender) == 6
    assert sorted(Counter(r.event_id for r in hook.received).values()) == [3, 3]  # two events, three endpoints


class BrokenSender:
    """A sender with a bug: it raises where it should return an Outcome."""

    async def send(
        self, url: str, *, message_id: str, timestamp: datetime, body: bytes, secrets: tuple[str, ...]
    ) -> Outcome:
        raise RuntimeError("sender bug")


async def test_a_claim_left_by_an_exception_is_attempted_again(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    await agent_of(hooks, acme)

    with pytest.raises(RuntimeError, match="sender bug"):
        await deliver_due(hooks, BrokenSender(), limit=8)

    left = await only_delivery(hooks, acme.admin, made.webhook.id)
    assert (left.status, left.attempts, left.next_attempt_at) == (DeliveryStatus.PENDING, 0, clock_of(hooks).now())
    assert await deliver_due(hooks, sender, limit=8) == 1
    assert (await only_delivery(hooks, acme.admin, made.webhook.id)).status is DeliveryStatus.DELIVERED


# -- an endpoint that keeps failing is disabled, audited ------------------------------------------------------------


async def test_an_endpoint_failing_for_five_days_is_disabled_by_the_service_and_that_is_audited(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    clock = clock_of(hooks)
    made = await endpoint(hooks, acme.admin, hook.url, ["agent.created"])
    webhook = GetWebhook(webhook_id=made.webhook.id)
    hook.status = 500
    await agent_of(hooks, acme, "one")
    assert await deliver_due(hooks, sender, limit=8) == 1
    since = clock.now()
    assert (await get_webhook(hooks, acme.admin, webhook)).failing_since == since

    clock.current = since + DISABLE_AFTER - timedelta(seconds=1)
    await agent_of(hooks, acme, "two")
    assert await drain(hooks, sender) == 2  # one's second attempt, two's first: both fail, a second too early
    assert (await get_webhook(hooks, acme.admin, webhook)).enabled

    clock.current = since + DISABLE_AFTER
    await agent_of(hooks, acme, "three")
    assert await deliver_due(hooks, sender, limit=8) == 1

    off = await get_webhook(hooks, acme.admin, webhook)
    assert (off.enabled, off.failing_since) == (False, since)
    assert off.disabled_reason is not None
    assert "5 days" in off.disabled_reason
    [disabled] = [e for e in await whole_trail(hooks, acme.owner) if e.action is Action.WEBHOOK_DISABLE]
    assert (disabled.actor, disabled.target_id, disabled.occurred_at) == (SERVICE_ACTOR, made.webhook.id, clock.now())
    assert (disabled.details["url"], disabled.details["reason"]) == (hook.url, off.disabled_reason)
    assert datetime.fromisoformat(disabled.details["failing_since"]) == since

    queued = len(await log_of(hooks, acme.admin, made.webhook.id))
    await agent_of(hooks, acme, "four")
    assert len(await log_of(hooks, acme.admin, made.webhook.id)) == queued == 3
    clock.advance(86_400)
    assert await deliver_due(hooks, sender, limit=8) == 0  # its pending deliveries wait for it

    hook.status = 204
    await send_test_event(hooks, acme.admin, webhook)
    assert await deliver_due(hooks, sender, limit=8) == 1  # a test event is sent even so
    on = await update_webhook(hooks, acme.admin, UpdateWebhook(webhook_id=made.webhook.id, enabled=True))
    assert (on.enabled, on.disabled_reason, on.failing_since) == (True, None, None)
    assert await drain(hooks, sender) == 3
    assert types_of(hook) == ["webhook.test"] + ["agent.created"] * 3


# -- rotating the secret ------------------------------------------------------------------------------------------


async def test_after_a_rotation_both_secrets_verify_for_a_day_then_only_the_new_one(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    clock = clock_of(hooks)
    real_time(hooks, -ROTATION_GRACE + timedelta(minutes=1))  # the grace ends a minute from now, really
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url, ["agent.created"])
    rotated = await rotate_webhook_secret(hooks, acme.owner, GetWebhook(webhook_id=made.webhook.id))
    old, new = made.secret, rotated.secret
    assert new != old
    assert new.startswith(SECRET_PREFIX)
    grace_ends = clock.now() + ROTATION_GRACE
    assert (rotated.webhook.previous_secret, rotated.webhook.previous_secret_until) == (old, grace_ends)

    clock.current = grace_ends - timedelta(seconds=1)
    await agent_of(hooks, acme, "in the grace")
    await drain(hooks, sender)
    clock.current = grace_ends
    await agent_of(hooks, acme, "after it")
    await drain(hooks, sender)

    during, after = hook.wait_for(2)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified(old)["data"] == during.verified(new)["data"]
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert after.verified(new)["type"] == "agent.created"
    with pytest.raises(WebhookVerificationError):
        after.verified(old)
    stored = await get_webhook(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))
    assert stored.secret == new
    assert [e.action for e in await whole_trail(hooks, acme.owner) if e.target_id == made.webhook.id] == [
        Action.WEBHOOK_CREATE, Action.WEBHOOK_ROTATE,
    ]  # fmt: skip


# -- test events, retrying a delivered one -------------------------------------------------------------------------


async def test_a_test_event_goes_to_that_endpoint_only_and_a_retry_sends_it_again_with_the_same_id(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    real_time(hooks)
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url, ["label.deleted"])
    with receiver() as other:
        await endpoint(hooks, acme.admin, other.url)
        sent = await send_test_event(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))
        assert (sent.delivery.event_type, sent.delivery.status, sent.delivery.event_id) == (
            EventType.WEBHOOK_TEST, DeliveryStatus.PENDING, sent.event_id,
        )  # fmt: skip
        assert await drain(hooks, sender) == 1
        assert other.attempts == 0

    again = await retry_delivery(
        hooks, acme.admin, RetryDelivery(webhook_id=made.webhook.id, delivery_id=sent.delivery.id)
    )
    assert (again.status, again.attempts) == (DeliveryStatus.PENDING, 0)
    assert await drain(hooks, sender) == 1

    first, second = hook.wait_for(2)
    assert first.event_id == second.event_id == str(sent.event_id)
    assert first.verified(made.secret) == second.verified(made.secret)
    assert first.verified(made.secret)["data"] == {
        "org_id": str(acme.admin.org_id), "webhook_id": str(made.webhook.id), "actor": acme.admin.user_id,
    }  # fmt: skip


# -- managing endpoints -------------------------------------------------------------------------------------------


async def test_an_endpoint_is_created_read_changed_and_deleted_with_an_audit_event_each(
    hooks: Deps, sender: HttpWebhookSender, hook: Receiver
) -> None:
    acme = await team(hooks, "acme")
    made = await create_webhook(
        hooks, acme.admin, CreateWebhook(url=hook.url, events=["label.moved", "agent.created"], description="CI")
    )
    webhook = GetWebhook(webhook_id=made.webhook.id)
    assert (made.webhook.url, made.webhook.events, made.webhook.description, made.webhook.enabled) == (
        hook.url, (EventType.AGENT_CREATED, EventType.LABEL_MOVED), "CI", True,
    )  # fmt: skip
    assert made.secret.startswith(SECRET_PREFIX)
    assert await get_webhook(hooks, acme.owner, webhook) == made.webhook

    changed = await update_webhook(
        hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, events=["agent.updated"], description=None)
    )
    assert (changed.events, changed.description, changed.secret) == ((EventType.AGENT_UPDATED,), None, made.secret)
    same = await update_webhook(hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, events=["agent.updated"]))
    assert same == changed
    with pytest.raises(Invalid):
        await update_webhook(hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, url="ftp://x/"))
    with pytest.raises(Invalid):
        await update_webhook(hooks, acme.owner, UpdateWebhook(webhook_id=made.webhook.id, events=[]))
    assert await get_webhook(hooks, acme.owner, webhook) == changed

    await send_test_event(hooks, acme.admin, webhook)
    await delete_webhook(hooks, acme.admin, webhook)
    for use in (get_webhook, list_deliveries_of, send_test_event):
        with pytest.raises(WebhookNotFound):
            await use(hooks, acme.admin, webhook)
    await agent_of(hooks, acme)
    assert await drain(hooks, sender) == 0
    assert hook.attempts == 0
    trail = [e for e in await whole_trail(hooks, acme.owner) if e.target_id == made.webhook.id]
    assert [e.action for e in trail] == [Action.WEBHOOK_CREATE, Action.WEBHOOK_UPDATE, Action.WEBHOOK_DELETE]
    assert trail[1].details["before"] == {"events": ["agent.created", "label.moved"], "description": "CI"}
    assert trail[1].details["after"] == {"events": ["agent.updated"], "description": None}


async def list_deliveries_of(deps: Deps, who: Principal, cmd: GetWebhook) -> object:
    return await list_deliveries(deps, who, ListDeliveries(webhook_id=cmd.webhook_id))


async def test_loopback_and_http_targets_need_the_operator_to_allow_them(deps: Deps, hooks: Deps) -> None:
    acme = await team(deps, "acme")

    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://localhost/hook", "http://example.com/"):
        with pytest.raises(Invalid):
            await create_webhook(deps, acme.admin, CreateWebhook(url=url, events=ALL))
    made = await create_webhook(hooks, acme.admin, CreateWebhook(url="http://127.0.0.1:9/hook", events=ALL))
    with pytest.raises(Invalid):
        await update_webhook(deps, acme.admin, UpdateWebhook(webhook_id=made.webhook.id, url="http://127.0.0.1:8/"))
    assert (await list_webhooks(deps, acme.admin, ListWebhooks())).items == [made.webhook]


UseCase = Callable[[Deps, Principal], Awaitable[Any]]


def every_use_case(webhook_id: UUID, delivery_id: UUID) -> dict[str, UseCase]:
    webhook = GetWebhook(webhook_id=webhook_id)
    return {
        "get": lambda d, w: get_webhook(d, w, webhook),
        "update": lambda d, w: update_webhook(d, w, UpdateWebhook(webhook_id=webhook_id, enabled=False)),
        "delete": lambda d, w: delete_webhook(d, w, webhook),
        "rotate": lambda d, w: rotate_webhook_secret(d, w, webhook),
        "test": lambda d, w: send_test_event(d, w, webhook),
        "deliveries": lambda d, w: list_deliveries(d, w, ListDeliveries(webhook_id=webhook_id)),
        "retry": lambda d, w: retry_delivery(d, w, RetryDelivery(webhook_id=webhook_id, delivery_id=delivery_id)),
    }


async def test_another_organizations_endpoint_does_not_exist_for_any_use_case(hooks: Deps, hook: Receiver) -> None:
    acme, beta = await team(hooks, "acme"), await team(hooks, "beta")
    made = await endpoint(hooks, acme.admin, hook.url)
    sent = await send_test_event(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))

    for use in every_use_case(made.webhook.id, sent.delivery.id).values():
        for who in (beta.owner, beta.admin):
            with pytest.raises(WebhookNotFound):
                await use(hooks, who)
    assert (await list_webhooks(hooks, beta.owner, ListWebhooks())).items == []

    theirs = await endpoint(hooks, beta.admin, hook.url)
    with pytest.raises(DeliveryNotFound):  # acme's delivery, asked for through beta's own endpoint
        await retry_delivery(
            hooks, beta.admin, RetryDelivery(webhook_id=theirs.webhook.id, delivery_id=sent.delivery.id)
        )
    other = await endpoint(hooks, acme.admin, hook.url)
    with pytest.raises(DeliveryNotFound):  # and through another endpoint of the same organization
        await retry_delivery(
            hooks, acme.admin, RetryDelivery(webhook_id=other.webhook.id, delivery_id=sent.delivery.id)
        )
    assert await get_webhook(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id)) == made.webhook


async def test_members_and_prompt_keys_may_not_manage_endpoints(hooks: Deps, hook: Receiver) -> None:
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    sent = await send_test_event(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))
    issued = await create_token(
        hooks, CreateToken(org_name="acme", user_id="runtime", role=Role.OWNER, scope=Scope.PROMPT)
    )
    runtime = await authenticate(hooks, issued.secret)
    assert runtime is not None
    uses = every_use_case(made.webhook.id, sent.delivery.id) | {
        "create": lambda d, w: create_webhook(d, w, CreateWebhook(url=hook.url, events=ALL)),
        "list": lambda d, w: list_webhooks(d, w, ListWebhooks()),
    }

    for use in uses.values():
        with pytest.raises(RoleTooLow):
            await use(hooks, acme.member)
        with pytest.raises(ScopeTooNarrow):
            await use(hooks, runtime)

    assert (await list_webhooks(hooks, acme.owner, ListWebhooks())).items == [made.webhook]
    assert len(await log_of(hooks, acme.owner, made.webhook.id)) == 1


# -- pages --------------------------------------------------------------------------------------------------------


async def test_endpoints_and_the_delivery_log_are_listed_newest_first_in_pages(hooks: Deps, hook: Receiver) -> None:
    acme = await team(hooks, "acme")
    made = []
    for n in range(5):
        made.append((await endpoint(hooks, acme.admin, f"{hook.url}/{n}")).webhook)
        if n % 2:
            clock_of(hooks).advance()  # some share a creation time, some do not
    webhook = GetWebhook(webhook_id=made[0].id)
    sent = [await send_test_event(hooks, acme.admin, webhook) for _ in range(5)]

    endpoints, deliveries, cursor = [], [], None
    while True:
        page = await list_webhooks(hooks, acme.admin, ListWebhooks(limit=2, cursor=cursor))
        endpoints.append([e.url for e in page.items])
        if (cursor := page.next_cursor) is None:
            break
    while True:
        log = await list_deliveries(
            hooks, acme.admin, ListDeliveries(webhook_id=webhook.webhook_id, limit=2, cursor=cursor)
        )
        deliveries.append([d.event_id for d in log.items])
        if (cursor := log.next_cursor) is None:
            break

    newest_first = [e.url for e in made[::-1]]
    assert endpoints == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    assert [e.url for e in (await list_webhooks(hooks, acme.admin, ListWebhooks())).items] == newest_first
    events = [s.event_id for s in sent[::-1]]
    assert deliveries == [events[0:2], events[2:4], events[4:]]
    seqs = [d.seq for d in await log_of(hooks, acme.admin, webhook.webhook_id)]
    assert seqs == sorted(set(seqs), reverse=True)
    assert len(seqs) == 5
    for bad in (ListWebhooks(limit=0), ListWebhooks(limit=MAX_LIMIT + 1), ListWebhooks(cursor="not-a-cursor")):
        with pytest.raises(Malformed):
            await list_webhooks(hooks, acme.admin, bad)
    for wrong in (
        ListDeliveries(webhook_id=webhook.webhook_id, limit=0),
        ListDeliveries(webhook_id=webhook.webhook_id, limit=MAX_LIMIT + 1),
        ListDeliveries(webhook_id=webhook.webhook_id, cursor="bm9wZQ"),
    ):
        with pytest.raises(Malformed):
            await list_deliveries(hooks, acme.admin, wrong)


async def _lock_waiters(conninfo: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        found = await cursor.fetchone()
        return 0 if found is None else int(found[0])


async def test_an_endpoint_deleted_while_a_delivery_of_it_is_in_flight_goes_once_the_attempt_is_settled(
    hooks: Deps, hook: Receiver, request: pytest.FixtureRequest
) -> None:
    """A claim holds its deliveries, then updates their endpoint (failing since…); a delete that held the endpoint
    first and then waited for the deliveries deadlocked with it (ConcurrentUpdate on one side)."""
    acme = await team(hooks, "acme")
    made = await endpoint(hooks, acme.admin, hook.url)
    await agent_of(hooks, acme)
    conninfo = request.getfixturevalue("shared_migrated_database") if hasattr(hooks.outbox, "notify") else None
    now = clock_of(hooks).now()

    async with hooks.outbox.claim(now=now, limit=8) as claimed:
        [due] = claimed.due
        deleting = asyncio.create_task(delete_webhook(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id)))
        deadline = asyncio.get_running_loop().time() + 5
        while not deleting.done() and (conninfo is None or await _lock_waiters(conninfo) == 0):
            assert asyncio.get_running_loop().time() < deadline, "the delete neither finished nor waited"
            await asyncio.sleep(0.01)  # polling for a state, with a deadline
        failed = after_attempt(due.delivery, Outcome(status_code=500), now=now, jitter=0.5)
        await claimed.settle(failed, now=now)  # the endpoint is updated while the delete waits
    await asyncio.wait_for(deleting, 10)

    with pytest.raises(WebhookNotFound):
        await get_webhook(hooks, acme.admin, GetWebhook(webhook_id=made.webhook.id))
