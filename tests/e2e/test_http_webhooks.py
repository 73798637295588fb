"""Webhooks over HTTP: owners and admins register endpoints (the secret once), read, change, rotate, test and delete
them, and read their delivery logs; every change an endpoint is subscribed to reaches a real receiver on loopback,
signed (checked by the `standardwebhooks` package, as an outside receiver checks it), within seconds, and a receiver
that was down gets everything once it is back. A refused change sends nothing; another organization's endpoints do
not exist for the caller.

The app runs with the process's delivery worker beside it, private targets allowed so that it may send to the
receivers; `strict` is the service as deployed, which refuses them. The clock is a fixed one set to the real time, since
receivers refuse a signature's timestamp more than 5 minutes off theirs; a test moves it to make a backoff due.
"""

import base64
import dataclasses
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar
from uuid import UUID

import anyio
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks import Webhook
from standardwebhooks.exceptions import WebhookVerificationError

from application.deps import Deps
from application.tokens import CreateToken, create_token
from domain.roles import Role, Scope
from domain.webhooks import MAX_DESCRIPTION, MAX_URL, SUBSCRIBABLE
from entrypoints.bootstrap import webhook_deliveries
from entrypoints.http.app import create_app
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.doubles import FixedClock
from tests.e2e.conftest import Client, Team, World, assert_problem, caller, fields_of, team
from tests.receivers import Received, Receiver, receiver

pytestmark = [pytest.mark.anyio, pytest.mark.live_cache]

ON_MEMORY: Final = pytest.mark.parametrize("deps", ["memory"], indirect=True)  # the HTTP layer's own refusals

EVERY_EVENT: Final = [event.value for event in SUBSCRIBABLE]
UNKNOWN_ID: Final = "ffffffff-ffff-4fff-8fff-fffffffffff4"
NOT_UUIDS: Final = ("not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "ffffffff-ffff-4fff-8fff")
WITHIN_S: Final = 10.0  # "within seconds": a deadline; the worker is woken by each commit, and looks every second
RETRY_S: Final = 5 * 1.2  # the first retry of a failed attempt: 5 s ± 20 % jitter
BAD_LIMITS: Final = ("0", "101", "-1", "x", "", "1.5", "1e3", "99999999999999999999999")

T = TypeVar("T")


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def deps(deps: Deps, clock: FixedClock) -> Deps:
    return dataclasses.replace(deps, clock=clock, allow_private_webhooks=True)


@pytest.fixture
async def client(deps: Deps, tmp_path: Path) -> AsyncIterator[Client]:
    settings = Settings(database_url=None, data_dir=tmp_path, webhook_allow_private=True)
    app = create_app(settings, deps)
    # The app runs deliveries only for deps it opens itself; these run on the test's loop, where deps were made.
    async with webhook_deliveries(deps, settings), AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def strict(deps: Deps, tmp_path: Path) -> AsyncIterator[Client]:
    """The app as it is deployed: webhooks may target public addresses only, over https."""
    default, settings = dataclasses.replace(deps, allow_private_webhooks=False), Settings(data_dir=tmp_path)
    async with webhook_deliveries(default, settings), AsyncTestClient(create_app(settings, default)) as test_client:
        yield test_client


@pytest.fixture
def listener() -> Iterator[Receiver]:
    with receiver() as made:
        yield made


@pytest.fixture
async def acme(deps: Deps) -> Team:
    """Organization acme's owner, admin and member (lighter than `world`: most tests need one agent at most)."""
    return await team(deps, "acme")


@pytest.fixture
async def agent(client: Client, acme: Team) -> str:
    made = await client.post("/org-agents", json={"name": "Shop Buddy"}, headers=acme.owner.headers)
    assert made.status_code == 201, made.text
    agent_id: str = made.json()["id"]
    return agent_id


# -- helpers ------------------------------------------------------------------------------------------------------


async def register(
    client: Client, headers: dict[str, str], url: str, events: list[str] | None = None, **body: Any
) -> dict[str, Any]:
    made = await client.post("/webhooks", json={"url": url, "events": events or EVERY_EVENT} | body, headers=headers)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    assert made.headers["location"] == f"/webhooks/{answer['webhook']['id']}"
    return answer


async def arrivals(listener: Receiver, count: int, timeout_s: float = WITHIN_S) -> list[Received]:
    """The requests the receiver answered 2xx, once there are `count` (waited for off the event loop)."""
    return await anyio.to_thread.run_sync(functools.partial(listener.wait_for, count, timeout_s))


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout_s: float = WITHIN_S) -> T:
    """What `probe` answers once it answers something; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (found := await probe()) is None:
        assert time.monotonic() < deadline, f"nothing came of {probe} within {timeout_s} s"
        await anyio.sleep(0.05)
    return found


async def log_of(client: Client, headers: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    read = await client.get(f"/webhooks/{webhook_id}/deliveries", params={"limit": 100}, headers=headers)
    assert read.status_code == 200, read.text
    items: list[dict[str, Any]] = read.json()["items"]
    return items


async def log_when(
    client: Client, headers: dict[str, str], webhook_id: str, ready: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        log = await log_of(client, headers, webhook_id)
        return log if ready(log) else None

    return await eventually(probe)


def all_delivered(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda log: len(log) == count and all(d["status"] == "delivered" for d in log)


def all_attempted(count: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda log: len(log) == count and all(d["attempts"] >= 1 for d in log)


async def describe(client: Client, headers: dict[str, str], agent: str, description: str) -> None:
    """An agent.updated event."""
    changed = await client.patch(f"/org-agents/{agent}", json={"description": description}, headers=headers)
    assert changed.status_code == 200, changed.text


def parsed(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def cursor_of(key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


# -- the routes, one by one ---------------------------------------------------------------------------------------


async def test_an_endpoint_shows_its_secret_once_and_never_again(client: Client, acme: Team) -> None:
    owner = acme.owner.headers

    made = await register(
        client, owner, "https://hooks.example.com/org-agents", ["label.moved", "agent.created", "label.moved"],
        description="cache refresher",
    )  # fmt: skip

    webhook, secret = made["webhook"], made["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert (webhook["url"], webhook["events"], webhook["description"]) == (
        "https://hooks.example.com/org-agents", ["agent.created", "label.moved"], "cache refresher",
    )  # fmt: skip
    assert (webhook["enabled"], webhook["disabled_reason"], webhook["failing_since"]) == (True, None, None)
    assert webhook["created_at"] == webhook["updated_at"]
    one = await client.get(f"/webhooks/{webhook['id']}", headers=owner)
    listed = await client.get("/webhooks", headers=owner)
    log = await client.get(f"/webhooks/{webhook['id']}/deliveries", headers=owner)
    trail = await client.get("/org-agents/audit-events", params={"action": "webhook.create"}, headers=owner)
    assert one.json() == webhook
    assert listed.json() == {"items": [webhook], "next_cursor": None}
    assert log.json() == {"items": [], "next_cursor": None}
    assert [(e["actor"], e["target_id"]) for e in trail.json()["items"]] == [(acme.owner.user_id, webhook["id"])]
    for read in (one, listed, log, trail):
        assert secret not in read.text
        assert secret.removeprefix("whsec_") not in read.text


async def test_the_list_pages_newest_first(client: Client, acme: Team, clock: FixedClock) -> None:
    owner = acme.owner.headers
    made = []
    for n in range(3):
        made.append((await register(client, owner, f"https://hooks.example.com/{n}"))["webhook"])
        clock.advance(1)

    first = (await client.get("/webhooks", params={"limit": 2}, headers=owner)).json()
    second = (await client.get("/webhooks", params={"limit": 2, "cursor": first["next_cursor"]}, headers=owner)).json()

    assert first["items"] == [made[2], made[1]]
    assert second == {"items": [made[0]], "next_cursor": None}


async def test_patch_changes_only_what_it_names_and_null_clears_the_description(
    client: Client, acme: Team, clock: FixedClock
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, "https://hooks.example.com/a", ["agent.created"], description="one")
    url = f"/webhooks/{made['webhook']['id']}"
    clock.advance(60)

    changed = await client.patch(
        url, json={"url": "https://hooks.example.com/b", "events": ["label.moved", "agent.created"]}, headers=owner
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["url"], after["events"], after["description"], after["enabled"]) == (
        "https://hooks.example.com/b", ["agent.created", "label.moved"], "one", True,
    )  # fmt: skip
    assert parsed(after["updated_at"]) - parsed(after["created_at"]) == timedelta(seconds=60)
    assert (await client.get(url, headers=owner)).json() == after

    cleared = (await client.patch(url, json={"description": None}, headers=owner)).json()
    assert cleared["description"] is None
    off = (await client.patch(url, json={"enabled": False}, headers=owner)).json()
    assert (off["enabled"], off["disabled_reason"]) == (False, None)
    same = await client.patch(url, json={}, headers=owner)
    assert (same.status_code, same.json()) == (200, off)
    on = (await client.patch(url, json={"enabled": True, "description": "two"}, headers=owner)).json()
    assert (on["enabled"], on["description"], on["url"]) == (True, "two", "https://hooks.example.com/b")
    assert (await client.get(url, headers=owner)).json() == on
    assert made["secret"] not in str([changed.text, cleared, off, on])
    updates = await client.get("/org-agents/audit-events", params={"action": "webhook.update"}, headers=owner)
    assert len(updates.json()["items"]) == 4  # the empty PATCH changed nothing, and is not audited


BAD_PATCHES: Final[tuple[tuple[dict[str, Any], str], ...]] = (
    ({"surprise": 1}, "surprise"),
    ({"enabled": True, "secret": "whsec_mine"}, "secret"),
    ({"enabled": "yes"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"enabled": "true"}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"url": 5}, "url"),
    ({"url": None}, "url"),
    ({"url": "ftp://hooks.example.com/"}, "url"),
    ({"url": ""}, "url"),
    ({"events": "agent.created"}, "events"),
    ({"events": []}, "events"),
    ({"events": None}, "events"),
    ({"events": ["agent.made"]}, "events"),
    ({"events": ["webhook.test"]}, "events"),
    ({"description": 5}, "description"),
    ({"description": "d" * (MAX_DESCRIPTION + 1)}, "description"),
    ({"description": "a\x00b"}, "description"),
)


async def test_a_bad_patch_names_its_field_and_changes_nothing(client: Client, acme: Team) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, "https://hooks.example.com/a", ["agent.created"])
    url = f"/webhooks/{made['webhook']['id']}"

    for body, field in BAD_PATCHES:
        answer = assert_problem(await client.patch(url, json=body, headers=owner), 422)
        assert fields_of(answer) == {field}, body

    assert (await client.get(url, headers=owner)).json() == made["webhook"]


async def test_a_deleted_endpoint_is_gone_and_sent_nothing_more(
    client: Client, acme: Team, agent: str, listener: Receiver
) -> None:
    owner = acme.owner.headers
    gone = await register(client, owner, f"{listener.url}?gone", ["agent.updated"])
    kept = await register(client, owner, f"{listener.url}?kept", ["agent.updated"])
    url = f"/webhooks/{gone['webhook']['id']}"

    deleted = await client.delete(url, headers=owner)

    assert (deleted.status_code, deleted.content) == (204, b"")
    for method, path in (("GET", url), ("DELETE", url), ("PATCH", url), ("POST", f"{url}/test"),
                         ("GET", f"{url}/deliveries"), ("POST", f"{url}/rotate-secret")):  # fmt: skip
        answer = await client.request(method, path, json={} if method == "PATCH" else None, headers=owner)
        assert assert_problem(answer, 404)["code"] == "WebhookNotFound", (method, path)
    assert [w["id"] for w in (await client.get("/webhooks", headers=owner)).json()["items"]] == [kept["webhook"]["id"]]
    await describe(client, owner, agent, "after the delete")
    (only,) = await arrivals(listener, 1)
    assert only.path == "/hook?kept"
    assert only.verified(kept["secret"])["data"]["after"] == {"description": "after the delete"}
    await log_when(client, owner, kept["webhook"]["id"], all_delivered(1))
    assert [r.path for r in listener.received] == ["/hook?kept"]


async def test_the_test_event_arrives_signed_and_shows_in_the_log(
    client: Client, acme: Team, listener: Receiver
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["label.deleted"])
    webhook_id = made["webhook"]["id"]

    sent = await client.post(f"/webhooks/{webhook_id}/test", headers=owner)

    assert sent.status_code == 202, sent.text
    queued = sent.json()
    assert (queued["delivery"]["event_id"], queued["delivery"]["event_type"]) == (queued["event_id"], "webhook.test")
    assert queued["delivery"]["status"] == "pending"
    (got,) = await arrivals(listener, 1)
    body = got.verified(made["secret"])
    org_id = (await client.get("/whoami", headers=owner)).json()["org_id"]
    assert body["type"] == "webhook.test"
    assert body["data"] == {"org_id": org_id, "webhook_id": webhook_id, "actor": acme.owner.user_id}
    assert got.event_id == queued["event_id"]
    assert got.headers["content-type"] == "application/json"
    assert got.path == "/hook"
    (logged,) = await log_when(client, owner, webhook_id, all_delivered(1))
    assert logged["id"] == queued["delivery"]["id"]
    assert (logged["attempts"], logged["last_status_code"], logged["next_attempt_at"]) == (1, 204, None)
    assert logged["delivered_at"] == logged["last_attempt_at"] is not None
    with pytest.raises(WebhookVerificationError):
        got.verified("whsec_" + base64.b64encode(b"x" * 24).decode())  # anyone else's secret


async def test_rotating_the_secret_signs_with_both_for_a_day_then_with_the_new_one(
    client: Client, acme: Team, agent: str, listener: Receiver, clock: FixedClock
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    webhook_id, old = made["webhook"]["id"], made["secret"]

    rotated = await client.post(f"/webhooks/{webhook_id}/rotate-secret", headers=owner)

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != old
    read = await client.get(f"/webhooks/{webhook_id}", headers=owner)
    assert rotated.json()["webhook"] == read.json()
    for text in (read.text, (await client.get("/webhooks", headers=owner)).text):
        assert new not in text
        assert old not in text
    await describe(client, owner, agent, "rotated")
    (both,) = await arrivals(listener, 1)
    assert both.verified(new) == both.verified(old)
    assert both.verified(new)["data"]["after"] == {"description": "rotated"}
    assert len(both.headers["webhook-signature"].split()) == 2

    clock.advance(timedelta(hours=24).total_seconds())
    assert (await client.post(f"/webhooks/{webhook_id}/test", headers=owner)).status_code == 202
    _, later = await arrivals(listener, 2)
    # A day ahead of the receiver's clock its timestamp check would refuse it: the signatures are compared as is.
    moment = datetime.fromtimestamp(int(later.headers["webhook-timestamp"]), UTC)
    data = later.body.decode()
    assert later.headers["webhook-signature"] == Webhook(new).sign(later.event_id, moment, data)
    assert Webhook(old).sign(later.event_id, moment, data) not in later.headers["webhook-signature"]


async def test_the_log_shows_each_attempt_and_retry_sends_again_now(
    client: Client, acme: Team, agent: str, listener: Receiver, clock: FixedClock
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    webhook_id = made["webhook"]["id"]
    listener.status, listener.retry_after, listener.body = 429, "120", b"busy, try later"

    await describe(client, owner, agent, "while busy")

    (failed,) = await log_when(client, owner, webhook_id, all_attempted(1))
    assert (failed["status"], failed["attempts"], failed["event_type"]) == ("pending", 1, "agent.updated")
    assert (failed["last_status_code"], failed["last_response"], failed["last_error"]) == (429, "busy, try later", None)
    assert failed["delivered_at"] is None
    assert parsed(failed["last_attempt_at"]) == clock.now()
    assert (parsed(failed["next_attempt_at"]) - clock.now()).total_seconds() >= 120  # its Retry-After, not 5 s
    assert listener.received == []

    listener.status, listener.retry_after, listener.body = 200, None, b"ok"
    again = await client.post(f"/webhooks/{webhook_id}/deliveries/{failed['id']}/retry", headers=owner)
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["status"], again.json()["attempts"]) == (failed["id"], "pending", 0)
    assert parsed(again.json()["next_attempt_at"]) == clock.now()  # due now, its backoff skipped
    (got,) = await arrivals(listener, 1)
    (done,) = await log_when(client, owner, webhook_id, all_delivered(1))
    assert (done["id"], done["attempts"], done["last_status_code"], done["last_response"]) == (
        failed["id"], 1, 200, "ok",
    )  # fmt: skip
    assert (done["next_attempt_at"], done["last_error"]) == (None, None)
    assert got.event_id == failed["event_id"]
    assert listener.attempts == 2

    # A delivered one is sent again too, with the same event id (receivers deduplicate on it).
    assert (
        await client.post(f"/webhooks/{webhook_id}/deliveries/{failed['id']}/retry", headers=owner)
    ).status_code == 202
    _, twice = await arrivals(listener, 2)
    assert (twice.event_id, twice.body) == (got.event_id, got.body)
    assert twice.verified(made["secret"])["type"] == "agent.updated"


async def test_the_log_pages_newest_first(client: Client, acme: Team, agent: str, listener: Receiver) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    webhook_id = made["webhook"]["id"]
    for n in range(3):
        await describe(client, owner, agent, f"change {n}")
    everything = await log_when(client, owner, webhook_id, all_delivered(3))
    url = f"/webhooks/{webhook_id}/deliveries"

    first = (await client.get(url, params={"limit": 2}, headers=owner)).json()
    second = (await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=owner)).json()

    assert first["items"] + second["items"] == everything
    assert second["next_cursor"] is None
    arrived = [r.event_id for r in await arrivals(listener, 3)]
    assert [d["event_id"] for d in reversed(everything)] == arrived


async def test_a_switched_off_endpoint_is_sent_no_changes_but_its_test_event(
    client: Client, acme: Team, agent: str, listener: Receiver
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    url = f"/webhooks/{made['webhook']['id']}"
    assert (await client.patch(url, json={"enabled": False}, headers=owner)).status_code == 200

    await describe(client, owner, agent, "while off")
    assert (await client.post(f"{url}/test", headers=owner)).status_code == 202
    (test,) = await arrivals(listener, 1)
    assert test.verified(made["secret"])["type"] == "webhook.test"
    assert (await client.patch(url, json={"enabled": True}, headers=owner)).status_code == 200
    await describe(client, owner, agent, "back on")

    _, after = await arrivals(listener, 2)
    assert after.verified(made["secret"])["data"]["after"] == {"description": "back on"}
    assert len(await log_of(client, owner, made["webhook"]["id"])) == 2  # "while off" was never queued for it


# -- end to end ---------------------------------------------------------------------------------------------------


async def test_every_change_arrives_signed_in_order_with_its_data(
    client: Client, acme: Team, listener: Receiver
) -> None:
    owner, user = acme.owner.headers, acme.owner.user_id
    org_id = (await client.get("/whoami", headers=owner)).json()["org_id"]
    every = await register(client, owner, listener.url)
    labels_only = await register(client, owner, f"{listener.url}?labels", ["label.moved", "label.deleted"])

    agent = (await client.post("/org-agents", json={"name": "Hooked"}, headers=owner)).json()["id"]
    base = f"/org-agents/{agent}"
    await describe(client, owner, agent, "tells everyone")
    v1 = (await client.post(f"{base}/blueprints", json={"agent_blueprint": shop_buddy()}, headers=owner)).json()["id"]
    compiled = await client.post(f"{base}/blueprints/{v1}/compile", params={"label": "staging"}, headers=owner)
    assert compiled.status_code == 200, compiled.text
    broken = shop_buddy()
    del broken["identity"]["role"]
    v2 = (await client.post(f"{base}/blueprints", json={"agent_blueprint": broken}, headers=owner)).json()["id"]
    assert_problem(await client.post(f"{base}/blueprints/{v2}/compile", headers=owner), 422)  # recorded, then refused
    assert (await client.put(f"{base}/labels/beta", json={"blueprint_id": v1}, headers=owner)).status_code == 200
    assert (await client.delete(f"{base}/labels/staging", headers=owner)).status_code == 204
    assert (await client.post(f"{base}/deactivate", headers=owner)).status_code == 200

    got = await arrivals(listener, 13)
    to_every = [r.verified(every["secret"]) for r in got if r.path == "/hook"]
    to_labels = [r.verified(labels_only["secret"]) for r in got if r.path == "/hook?labels"]
    assert [e["type"] for e in to_every] == [
        "agent.created", "agent.updated", "version.created", "version.compiled", "label.moved", "version.created",
        "version.compile_failed", "label.moved", "label.deleted", "agent.status_changed",
    ]  # fmt: skip
    assert to_labels == [e for e in to_every if e["type"].startswith("label.")]
    for event in to_every:
        assert {k: event["data"][k] for k in ("org_id", "agent_id", "actor")} == {
            "org_id": org_id, "agent_id": agent, "actor": user,
        }, event  # fmt: skip
        assert parsed(event["timestamp"]).tzinfo is not None
    created, updated, made_v1, compiled_v1, staged, made_v2, failed_v2, beta, unstaged, off = (
        e["data"] for e in to_every
    )
    assert created["name"] == "Hooked"
    assert (updated["before"], updated["after"]) == ({"description": None}, {"description": "tells everyone"})
    assert (made_v1["version_id"], made_v1["version"], made_v2["version_id"], made_v2["version"]) == (v1, 1, v2, 2)
    assert (compiled_v1["version_id"], compiled_v1["version"]) == (v1, 1)
    assert compiled_v1["compiler_version"]
    assert (failed_v2["version_id"], failed_v2["version"]) == (v2, 2)
    assert (staged["label"], staged["blueprint_id"], staged["version"], staged["previous_blueprint_id"]) == (
        "staging", v1, 1, None,
    )  # fmt: skip
    assert (beta["label"], beta["blueprint_id"]) == ("beta", v1)
    assert (unstaged["label"], unstaged["blueprint_id"], unstaged["previous_blueprint_id"]) == ("staging", None, v1)
    assert (off["action"], off["before"], off["after"]) == (
        "agent.deactivate", {"status": "active"}, {"status": "deactive"},
    )  # fmt: skip
    # The webhook-id is the audit event's id: the same in the trail, for both endpoints, on every attempt.
    trail = (await client.get(f"{base}/audit-events", params={"limit": 100}, headers=owner)).json()["items"]
    ids = [r.event_id for r in got if r.path == "/hook"]
    assert ids == [e["id"] for e in reversed(trail)]
    assert [r.event_id for r in got if r.path == "/hook?labels"] == [
        r.event_id for r in got if r.path == "/hook" and r.verified(every["secret"])["type"].startswith("label.")
    ]
    await log_when(client, owner, every["webhook"]["id"], all_delivered(10))


async def test_a_receiver_down_for_a_while_gets_everything_on_the_workers_next_retry(
    client: Client, acme: Team, agent: str, listener: Receiver, clock: FixedClock
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    webhook_id = made["webhook"]["id"]
    listener.down()

    for n in range(3):
        await describe(client, owner, agent, f"while down {n}")
    failing = await log_when(client, owner, webhook_id, all_attempted(3))
    for delivery in failing:
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, None)
        assert delivery["last_error"]
        assert 5 * 0.8 <= (parsed(delivery["next_attempt_at"]) - clock.now()).total_seconds() <= RETRY_S
    assert (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json()["failing_since"] is not None
    listener.up()
    clock.advance(RETRY_S)  # the backoff is over: the worker sends them again, unasked

    got = await arrivals(listener, 3)

    bodies = [r.verified(made["secret"]) for r in got]
    assert [b["data"]["after"]["description"] for b in bodies] == [f"while down {n}" for n in range(3)]
    delivered = await log_when(client, owner, webhook_id, all_delivered(3))
    assert {d["attempts"] for d in delivered} == {2}
    assert (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json()["failing_since"] is None


async def test_a_receiver_back_up_gets_everything_at_once_after_one_delivery_succeeds(
    client: Client, acme: Team, agent: str, listener: Receiver
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.updated"])
    webhook_id = made["webhook"]["id"]
    listener.down()
    for n in range(2):
        await describe(client, owner, agent, f"while down {n}")
    await log_when(client, owner, webhook_id, all_attempted(2))
    listener.up()

    assert (await client.post(f"/webhooks/{webhook_id}/test", headers=owner)).status_code == 202

    got = [r.verified(made["secret"]) for r in await arrivals(listener, 3)]
    assert [e["type"] for e in got] == ["webhook.test", "agent.updated", "agent.updated"]
    assert [e["data"]["after"]["description"] for e in got[1:]] == ["while down 0", "while down 1"]
    await log_when(client, owner, webhook_id, all_delivered(3))


async def test_a_refused_change_sends_nothing(client: Client, world: World, listener: Receiver) -> None:
    owner, member = world.acme.owner.headers, world.acme.member.headers
    made = await register(client, owner, listener.url)
    base = f"/org-agents/{world.live}"
    staging, stale = f"{base}/labels/staging", '"ffffffff-ffff-4fff-8fff-ffffffffffff"'

    refusals = [
        (await client.patch(base, json={"description": "x"}, headers=owner | {"If-Match": stale}), 412),
        (await client.put(staging, json={"blueprint_id": world.live_v2}, headers=owner | {"If-Match": stale}), 412),
        (await client.delete(staging, headers=owner | {"If-Match": stale}), 412),
        (await client.patch(base, json={"name": ""}, headers=owner), 422),
        (await client.post(f"{base}/blueprints", json={"agent_blueprint": {"identity": "x"}}, headers=owner), 422),
        (await client.put(f"{base}/labels/Bad!", json={"blueprint_id": world.live_v2}, headers=owner), 422),
        (await client.patch(base, json={"description": "x"}, headers=member), 403),
        (await client.post("/org-agents", json={"name": "n" * 256}, headers=owner), 422),
    ]
    for response, status in refusals:
        assert_problem(response, status)
    await describe(client, owner, world.live, "the one change")

    (only,) = await arrivals(listener, 1)
    assert only.verified(made["secret"])["data"]["after"] == {"description": "the one change"}
    assert len(await log_when(client, owner, made["webhook"]["id"], all_delivered(1))) == 1
    assert listener.attempts == 1


# -- bad input ----------------------------------------------------------------------------------------------------


BAD_CREATES: Final[list[tuple[dict[str, Any], str]]] = [
    ({"events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/"}, "events"),
    ({"url": "", "events": ["agent.created"]}, "url"),
    ({"url": 5, "events": ["agent.created"]}, "url"),
    ({"url": None, "events": ["agent.created"]}, "url"),
    ({"url": "hooks.example.com/x", "events": ["agent.created"]}, "url"),
    ({"url": "ftp://hooks.example.com/x", "events": ["agent.created"]}, "url"),
    ({"url": "https://", "events": ["agent.created"]}, "url"),
    ({"url": "https://bo:pw@hooks.example.com/x", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/x#part", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com:0/x", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com:99999/x", "events": ["agent.created"]}, "url"),
    ({"url": "https://[::1/x", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/a b", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/" + "p" * MAX_URL, "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/\x00", "events": ["agent.created"]}, "url"),
    ({"url": "https://hooks.example.com/", "events": []}, "events"),
    ({"url": "https://hooks.example.com/", "events": "agent.created"}, "events"),
    ({"url": "https://hooks.example.com/", "events": [1]}, "events"),
    ({"url": "https://hooks.example.com/", "events": None}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["agent.made"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["Agent.Created"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["webhook.test"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created\x00"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": [*EVERY_EVENT, "agent.created"]}, "events"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created"], "description": 5}, "description"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created"], "description": "d" * 256}, "description"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created"], "description": "a\x00b"}, "description"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created"], "secret": "whsec_mine"}, "secret"),
    ({"url": "https://hooks.example.com/", "events": ["agent.created"], "enabled": False}, "enabled"),
]


async def test_a_bad_endpoint_names_its_field_and_makes_nothing(client: Client, acme: Team) -> None:
    owner = acme.owner.headers

    for body, field in BAD_CREATES:
        answer = assert_problem(await client.post("/webhooks", json=body, headers=owner), 422)
        assert {f.partition("[")[0] for f in fields_of(answer)} == {field}, body  # `events[0]`: that event

    assert (await client.get("/webhooks", headers=owner)).json() == {"items": [], "next_cursor": None}


@ON_MEMORY
async def test_a_body_that_is_not_a_json_object_is_refused(client: Client, acme: Team) -> None:
    owner = acme.owner.headers | {"Content-Type": "application/json"}
    made = await register(client, acme.owner.headers, "https://hooks.example.com/")

    for path, method in (("/webhooks", "POST"), (f"/webhooks/{made['webhook']['id']}", "PATCH")):
        for content, status in ((b"", 400), (b"{bad", 400), (b"\xff\xfe", 400), (b"[]", 422), (b"null", 422)):
            assert_problem(await client.request(method, path, content=content, headers=owner), status)
    assert (await client.get("/webhooks", headers=owner)).json()["items"] == [made["webhook"]]


PRIVATE_OR_PLAIN: Final = (
    "http://hooks.example.com/org-agents",
    "http://203.0.113.7/hook",
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "https://172.16.0.1/hook",
    "https://100.64.0.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://[2002:a00:1::]/hook",  # 6to4 of 10.0.0.1
    "https://localhost/hook",
    "https://LOCALHOST./hook",
)


@ON_MEMORY
async def test_the_default_service_refuses_http_and_private_addresses(strict: Client, deps: Deps) -> None:
    owner = (await caller(deps, "acme", "acme-owner", Role.OWNER)).headers
    kept = await register(strict, owner, "https://hooks.example.com/org-agents", ["agent.created"])
    url = f"/webhooks/{kept['webhook']['id']}"

    for target in PRIVATE_OR_PLAIN:
        made = await strict.post("/webhooks", json={"url": target, "events": ["agent.created"]}, headers=owner)
        assert fields_of(assert_problem(made, 422)) == {"url"}, target
        changed = await strict.patch(url, json={"url": target}, headers=owner)
        assert fields_of(assert_problem(changed, 422)) == {"url"}, target

    assert (await strict.get("/webhooks", headers=owner)).json()["items"] == [kept["webhook"]]


@ON_MEMORY
async def test_the_default_service_refuses_a_name_that_resolves_to_a_private_address_when_it_sends(
    strict: Client, deps: Deps, listener: Receiver
) -> None:
    owner = (await caller(deps, "acme", "acme-owner", Role.OWNER)).headers
    made = await register(strict, owner, "https://hooks.example.com/org-agents", ["agent.created"])
    webhook_id = made["webhook"]["id"]
    # 127.1 is 127.0.0.1 to a resolver. Creation refuses it now; an endpoint stored before it did is still refused
    # where it counts, at every send, once its name is resolved.
    org_id = UUID((await strict.get("/whoami", headers=owner)).json()["org_id"])
    async with deps.uow() as uow:
        stored = await uow.webhooks.get(org_id, UUID(webhook_id))
        await uow.webhooks.update(msgspec.structs.replace(stored, url=f"https://127.1:{listener.port}/hook"))
        await uow.commit()

    assert (await strict.post(f"/webhooks/{webhook_id}/test", headers=owner)).status_code == 202

    (refused,) = await log_when(strict, owner, webhook_id, all_attempted(1))
    assert (refused["status"], refused["last_status_code"]) == ("pending", None)
    assert "127.0.0.1" in refused["last_error"]
    assert "loopback" in refused["last_error"]
    assert listener.attempts == 0


def _routes(webhook: str, delivery: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    url = f"/webhooks/{webhook}"
    return [
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("POST", f"{url}/rotate-secret", None),
        ("POST", f"{url}/test", None),
        ("GET", f"{url}/deliveries", None),
        ("POST", f"{url}/deliveries/{delivery}/retry", None),
    ]


@ON_MEMORY
async def test_an_id_that_is_not_a_uuid_is_not_found_and_an_unknown_one_names_what_is_missing(
    client: Client, acme: Team, listener: Receiver
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.created"])
    webhook_id = made["webhook"]["id"]
    delivery_id = (await client.post(f"/webhooks/{webhook_id}/test", headers=owner)).json()["delivery"]["id"]

    for bad in NOT_UUIDS:
        for method, path, body in [*_routes(bad, delivery_id), *_routes(webhook_id, bad)[-1:]]:
            assert_problem(await client.request(method, path, json=body, headers=owner), 404)
    for method, path, body in _routes(UNKNOWN_ID, delivery_id):
        answer = assert_problem(await client.request(method, path, json=body, headers=owner), 404)
        assert answer["code"] == "WebhookNotFound", (method, path)
    retry = f"/webhooks/{webhook_id}/deliveries/{UNKNOWN_ID}/retry"
    assert assert_problem(await client.post(retry, headers=owner), 404)["code"] == "DeliveryNotFound"
    assert (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json() == made["webhook"]


async def test_a_bad_limit_or_a_cursor_this_list_did_not_issue_is_a_bad_request(client: Client, acme: Team) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, "https://hooks.example.com/", ["agent.created"])
    endpoints, log = "/webhooks", f"/webhooks/{made['webhook']['id']}/deliveries"
    common = [
        "zzz", "!!!", "", "a" * 513, "\x00", cursor_of([]), cursor_of({}), cursor_of({"version": 1}),
        cursor_of({"seq": 1, "id": UNKNOWN_ID}), cursor_of({"created_at": "2026-01-01T12:00:00", "id": UNKNOWN_ID}),
    ]  # fmt: skip
    forged = {
        endpoints: [cursor_of({"seq": 1})],  # the log's
        log: [
            cursor_of({"created_at": "2026-01-01T12:00:00Z", "id": UNKNOWN_ID}),  # the list's
            *(cursor_of({"seq": seq}) for seq in ("1", 1.5, 0, -1, 2**63, 2**64)),  # a BIGINT from 1
        ],
    }

    for url in (endpoints, log):
        for limit in BAD_LIMITS:
            answer = await client.get(url, params={"limit": limit}, headers=owner)
            assert fields_of(assert_problem(answer, 400)) == {"limit"}, (url, limit)
        for cursor in common + forged[url]:
            answer = await client.get(url, params={"cursor": cursor}, headers=owner)
            assert fields_of(assert_problem(answer, 400)) == {"cursor"}, (url, cursor)
        for limit in ("1", "100"):
            assert (await client.get(url, params={"limit": limit}, headers=owner)).status_code == 200


# -- who may ------------------------------------------------------------------------------------------------------


async def test_another_organizations_endpoint_does_not_exist_and_its_changes_are_not_sent(
    client: Client, deps: Deps, acme: Team, agent: str, listener: Receiver
) -> None:
    owner, intruder = acme.owner.headers, (await caller(deps, "globex", "globex-owner", Role.OWNER)).headers
    made = await register(client, owner, listener.url)
    webhook_id = made["webhook"]["id"]
    delivery_id = (await client.post(f"/webhooks/{webhook_id}/test", headers=owner)).json()["delivery"]["id"]
    await arrivals(listener, 1)
    before = (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json()
    log = await log_when(client, owner, webhook_id, all_delivered(1))
    theirs = await register(client, intruder, f"{listener.url}?globex", ["agent.created"])

    for (method, path, body), (_, unknown_path, _) in zip(
        _routes(webhook_id, delivery_id), _routes(UNKNOWN_ID, delivery_id), strict=True
    ):
        seen = await client.request(method, path, json=body, headers=intruder)
        unknown = await client.request(method, unknown_path, json=body, headers=intruder)
        assert assert_problem(seen, 404)["code"] == "WebhookNotFound", (method, path)
        assert seen.text.replace(webhook_id, UNKNOWN_ID) == unknown.text
    retry = f"/webhooks/{theirs['webhook']['id']}/deliveries/{delivery_id}/retry"  # acme's delivery, globex's hook
    assert assert_problem(await client.post(retry, headers=intruder), 404)["code"] == "DeliveryNotFound"
    assert webhook_id not in (await client.get("/webhooks", headers=intruder)).text
    assert [w["id"] for w in (await client.get("/webhooks", headers=intruder)).json()["items"]] == [
        theirs["webhook"]["id"]
    ]

    made_by_globex = await client.post(
        "/org-agents/with-blueprint", json={"name": "Rival", "agent_blueprint": shop_buddy()}, headers=intruder
    )
    assert made_by_globex.status_code == 201, made_by_globex.text
    (for_globex,) = [r for r in await arrivals(listener, 2) if r.path == "/hook?globex"]
    assert for_globex.verified(theirs["secret"])["data"]["name"] == "Rival"
    await describe(client, owner, agent, "acme's own")
    *_, last = await arrivals(listener, 3)
    assert last.verified(made["secret"])["data"]["after"] == {"description": "acme's own"}  # the old secret: kept
    assert [r.path for r in listener.received] == ["/hook", "/hook?globex", "/hook"]
    assert (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json() == before
    assert (await log_when(client, owner, webhook_id, all_delivered(2)))[1:] == log


@ON_MEMORY
async def test_members_and_prompt_keys_may_not_touch_webhooks(
    client: Client, deps: Deps, acme: Team, listener: Receiver
) -> None:
    owner = acme.owner.headers
    made = await register(client, owner, listener.url, ["agent.created"])
    webhook_id = made["webhook"]["id"]
    delivery_id = (await client.post(f"/webhooks/{webhook_id}/test", headers=owner)).json()["delivery"]["id"]
    runtime = await create_token(
        deps, CreateToken(org_name="acme", user_id="runtime", role=Role.OWNER, scope=Scope.PROMPT)
    )
    routes = [
        ("POST", "/webhooks", {"url": "https://hooks.example.com/", "events": ["agent.created"]}),
        ("GET", "/webhooks", None),
        *_routes(webhook_id, delivery_id),
    ]
    before = (await client.get(f"/webhooks/{webhook_id}", headers=owner)).json()

    for headers, code in (
        (acme.member.headers, "RoleTooLow"),
        ({"Authorization": f"Bearer {runtime.secret}"}, "ScopeTooNarrow"),
    ):
        for method, path, body in routes:
            answer = await client.request(method, path, json=body, headers=headers)
            assert assert_problem(answer, 403)["code"] == code, (method, path)

    assert (await client.get("/webhooks", headers=owner)).json()["items"] == [before]
    assert len(await log_of(client, owner, webhook_id)) == 1


@ON_MEMORY
async def test_admins_manage_webhooks_as_owners_do(client: Client, acme: Team, listener: Receiver) -> None:
    admin = acme.admin.headers
    made = await register(client, admin, listener.url, ["agent.created"])
    webhook_id = made["webhook"]["id"]
    delivery_id = (await client.post(f"/webhooks/{webhook_id}/test", headers=admin)).json()["delivery"]["id"]

    routes = sorted(_routes(webhook_id, delivery_id), key=lambda route: route[0] == "DELETE")  # the DELETE last

    answers = [
        (await client.request(method, path, json=body, headers=admin)).status_code for method, path, body in routes
    ]

    assert answers == [200, 200, 200, 202, 200, 202, 204]
    assert (await client.get("/webhooks", headers=admin)).json() == {"items": [], "next_cursor": None}
