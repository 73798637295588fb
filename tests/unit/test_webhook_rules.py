"""The pure rules of webhooks (domain/webhooks.py): the retry schedule and Retry-After, when an endpoint is disabled,
which URLs and events may be registered, which audit actions are events, and the bodies they are sent as."""

import ipaddress
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.audit import Action, AuditEvent
from domain.errors import Invalid
from domain.webhooks import (
    DISABLE_AFTER,
    EVENT_OF_ACTION,
    JITTER,
    MAX_ATTEMPTS,
    MAX_DESCRIPTION,
    MAX_RESPONSE_EXCERPT,
    MAX_RETRY_AFTER_S,
    MAX_URL,
    RETRY_DELAYS_S,
    ROTATION_GRACE,
    SUBSCRIBABLE,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EventType,
    Outcome,
    after_attempt,
    checked_description,
    checked_events,
    checked_url,
    event_of,
    retry_after_seconds,
    shorthand_ipv4,
    should_disable,
)
from domain.webhooks import test_event as make_test_event  # not `test_…` here: pytest would collect it
from tests.doubles import T0

NEW_SECRET: Final = "whsec_new"  # noqa: S105 - a sample
OLD_SECRET: Final = "whsec_old"  # noqa: S105
ORG_ID: Final = UUID(int=2)
AGENT_ID: Final = UUID(int=3)
ENDPOINT: Final = Endpoint(
    id=UUID(int=1), org_id=ORG_ID, url="https://hooks.example.com/in", events=SUBSCRIBABLE, description=None,
    enabled=True, secret=NEW_SECRET, created_at=T0, updated_at=T0,
)  # fmt: skip
QUEUED: Final = Delivery(
    id=UUID(int=10), endpoint_id=ENDPOINT.id, event_id=UUID(int=11), event_type=EventType.AGENT_CREATED,
    status=DeliveryStatus.PENDING, created_at=T0, next_attempt_at=T0,
)  # fmt: skip
REFUSED_500: Final = Outcome(status_code=500, response="oops")
TICK: Final = timedelta(microseconds=1)  # datetimes round a fractional delay to the microsecond
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

failures = st.one_of(
    st.builds(Outcome, status_code=st.integers(100, 199) | st.integers(300, 599), response=st.text(max_size=50)),
    st.builds(Outcome, error=st.sampled_from(["no answer within 10 s", "ConnectError: refused"])),
)
jitters = st.floats(min_value=0, max_value=1, exclude_max=True)


def failed_times(count: int, *, jitter: float = 0.5) -> tuple[Delivery, datetime]:
    """The delivery after `count` failed attempts, each made when it was due; and the time of the last one."""
    delivery, now = QUEUED, T0
    for _ in range(count):
        now = delivery.next_attempt_at or now
        delivery = after_attempt(delivery, REFUSED_500, now=now, jitter=jitter)
    return delivery, now


# -- the retry schedule -----------------------------------------------------------------------------------------


@PROPERTY
@given(
    outcomes=st.lists(failures, min_size=MAX_ATTEMPTS - 1, max_size=MAX_ATTEMPTS - 1),
    spread=st.lists(jitters, min_size=MAX_ATTEMPTS - 1, max_size=MAX_ATTEMPTS - 1),
)
def test_every_failure_waits_its_scheduled_delay_give_or_take_twenty_percent(
    outcomes: list[Outcome], spread: list[float]
) -> None:
    delivery, now = QUEUED, T0
    for attempt, (outcome, jitter, scheduled) in enumerate(zip(outcomes, spread, RETRY_DELAYS_S, strict=True), 1):
        delivery = after_attempt(delivery, outcome, now=now, jitter=jitter)

        assert (delivery.status, delivery.attempts, delivery.last_attempt_at) == (DeliveryStatus.PENDING, attempt, now)
        assert (delivery.last_status_code, delivery.last_error) == (outcome.status_code, outcome.error)
        assert delivery.next_attempt_at is not None
        waited = delivery.next_attempt_at - now
        low, high = timedelta(seconds=scheduled * (1 - JITTER)), timedelta(seconds=scheduled * (1 + JITTER))
        assert low - TICK <= waited <= high + TICK
        now = delivery.next_attempt_at


def test_the_jitter_spreads_a_delay_from_eighty_to_a_hundred_and_twenty_percent() -> None:
    earliest = after_attempt(QUEUED, REFUSED_500, now=T0, jitter=0.0)
    middle = after_attempt(QUEUED, REFUSED_500, now=T0, jitter=0.5)
    latest = after_attempt(QUEUED, REFUSED_500, now=T0, jitter=0.999999)

    assert earliest.next_attempt_at == T0 + timedelta(seconds=RETRY_DELAYS_S[0] * 0.8)
    assert middle.next_attempt_at == T0 + timedelta(seconds=RETRY_DELAYS_S[0])
    assert latest.next_attempt_at is not None
    assert T0 + timedelta(seconds=RETRY_DELAYS_S[0] * 1.19) < latest.next_attempt_at <= T0 + timedelta(seconds=6)


def test_the_schedule_is_eight_attempts_over_about_a_day() -> None:
    assert MAX_ATTEMPTS == 8
    assert timedelta(hours=24) < timedelta(seconds=sum(RETRY_DELAYS_S)) < timedelta(hours=30)


@PROPERTY
@given(outcome=failures, jitter=jitters)
def test_the_eighth_failure_is_final(outcome: Outcome, jitter: float) -> None:
    seven, now = failed_times(MAX_ATTEMPTS - 1)
    assert seven.status is DeliveryStatus.PENDING

    last = after_attempt(seven, outcome, now=now, jitter=jitter)

    assert (last.status, last.attempts, last.next_attempt_at) == (DeliveryStatus.FAILED, MAX_ATTEMPTS, None)
    assert (last.last_attempt_at, last.last_status_code, last.delivered_at) == (now, outcome.status_code, None)


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
@pytest.mark.parametrize("earlier_failures", [0, 3, MAX_ATTEMPTS - 1])
def test_a_2xx_is_delivered_whatever_failed_before(code: int, earlier_failures: int) -> None:
    before, now = failed_times(earlier_failures)

    done = after_attempt(before, Outcome(status_code=code, response="thanks"), now=now, jitter=0.5)

    assert (done.status, done.attempts, done.delivered_at, done.next_attempt_at) == (
        DeliveryStatus.DELIVERED, earlier_failures + 1, now, None,
    )  # fmt: skip
    assert (done.last_status_code, done.last_response, done.last_error) == (code, "thanks", None)


@pytest.mark.parametrize("code", [100, 199, 301, 302, 304, 307, 400, 410, 429, 500, 503])
def test_anything_but_a_2xx_is_a_failure(code: int) -> None:
    assert not Outcome(status_code=code).delivered
    assert after_attempt(QUEUED, Outcome(status_code=code), now=T0, jitter=0.5).status is DeliveryStatus.PENDING


def test_an_error_without_an_answer_is_a_failure_kept_in_the_log() -> None:
    failed = after_attempt(QUEUED, Outcome(error="no answer within 10 s"), now=T0, jitter=0.5)

    assert (failed.status, failed.last_status_code, failed.last_error) == (
        DeliveryStatus.PENDING, None, "no answer within 10 s",
    )  # fmt: skip
    assert failed.last_response is None


def test_the_log_keeps_the_start_of_a_long_answer_and_nothing_for_an_empty_one() -> None:
    long = after_attempt(QUEUED, Outcome(status_code=500, response="é" * 5000), now=T0, jitter=0.5)
    empty = after_attempt(QUEUED, Outcome(status_code=500, response=""), now=T0, jitter=0.5)

    assert long.last_response == "é" * MAX_RESPONSE_EXCERPT
    assert empty.last_response is None


def test_an_answer_with_a_nul_character_is_kept_without_it() -> None:
    failed = after_attempt(QUEUED, Outcome(status_code=500, response="a\x00b"), now=T0, jitter=0.5)

    assert failed.last_response is not None
    assert "\x00" not in failed.last_response
    assert failed.last_response == "a\ufffdb"


@pytest.mark.parametrize("failures_before", [0, 1, 2])  # the delays shorter than an hour
def test_a_retry_after_longer_than_the_schedule_is_waited_for(failures_before: int) -> None:
    before, now = failed_times(failures_before)
    asked = RETRY_DELAYS_S[failures_before] * (1 + JITTER) + 60
    assert asked < MAX_RETRY_AFTER_S

    after = after_attempt(before, Outcome(status_code=429, retry_after_s=asked), now=now, jitter=0.999)

    assert after.next_attempt_at == now + timedelta(seconds=asked)


def test_a_retry_after_shorter_than_the_schedule_does_not_hurry_it() -> None:
    before, now = failed_times(4)  # the fifth delay is five hours

    after = after_attempt(before, Outcome(status_code=503, retry_after_s=1), now=now, jitter=0.5)

    assert after.next_attempt_at == now + timedelta(seconds=RETRY_DELAYS_S[4])


@pytest.mark.parametrize("asked", [MAX_RETRY_AFTER_S + 1, 86_400.0, 10.0**9, float("inf")])
def test_a_retry_after_is_honoured_up_to_an_hour(asked: float) -> None:
    after = after_attempt(QUEUED, Outcome(status_code=429, retry_after_s=asked), now=T0, jitter=0.5)

    assert after.next_attempt_at == T0 + timedelta(seconds=MAX_RETRY_AFTER_S)


def test_the_cap_on_retry_after_never_shortens_the_schedule() -> None:
    before, now = failed_times(5)  # the sixth delay is ten hours

    after = after_attempt(before, Outcome(status_code=429, retry_after_s=86_400), now=now, jitter=0.5)

    assert after.next_attempt_at == now + timedelta(seconds=RETRY_DELAYS_S[5])


def test_a_retry_after_does_not_keep_a_final_failure_going() -> None:
    seven, now = failed_times(MAX_ATTEMPTS - 1)

    last = after_attempt(seven, Outcome(status_code=429, retry_after_s=60), now=now, jitter=0.5)

    assert (last.status, last.next_attempt_at) == (DeliveryStatus.FAILED, None)


@pytest.mark.parametrize(("header", "seconds"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("3600", 3600.0)])
def test_a_retry_after_in_seconds_is_read(header: str, seconds: float) -> None:
    assert retry_after_seconds(header) == seconds


@pytest.mark.parametrize(
    "header",
    [None, "", " ", "soon", "-5", "1.5", "1e3", "+3", "0x10", "Wed, 21 Oct 2026 07:28:00 GMT", "²", "1²", "五"],
)
def test_a_retry_after_that_is_not_delay_seconds_is_ignored(header: str | None) -> None:
    assert retry_after_seconds(header) is None


# -- disabling an endpoint that keeps failing -------------------------------------------------------------------


def test_an_endpoint_failing_for_the_whole_threshold_is_disabled() -> None:
    failing = msgspec.structs.replace(ENDPOINT, failing_since=T0)

    assert should_disable(failing, now=T0 + DISABLE_AFTER)
    assert should_disable(failing, now=T0 + DISABLE_AFTER + timedelta(days=3))


def test_an_endpoint_failing_for_less_than_the_threshold_is_kept() -> None:
    failing = msgspec.structs.replace(ENDPOINT, failing_since=T0)

    assert timedelta(days=5) == DISABLE_AFTER
    assert not should_disable(failing, now=T0)
    assert not should_disable(failing, now=T0 + DISABLE_AFTER - TICK)


def test_a_healthy_or_already_disabled_endpoint_is_not_disabled() -> None:
    later = T0 + DISABLE_AFTER * 10

    assert not should_disable(ENDPOINT, now=later)
    assert not should_disable(msgspec.structs.replace(ENDPOINT, enabled=False, failing_since=T0), now=later)


# -- signing secrets --------------------------------------------------------------------------------------------


def test_after_a_rotation_both_secrets_sign_until_the_grace_ends() -> None:
    rotated = msgspec.structs.replace(ENDPOINT, previous_secret=OLD_SECRET, previous_secret_until=T0 + ROTATION_GRACE)

    assert rotated.signing_secrets(T0) == (NEW_SECRET, OLD_SECRET)
    assert rotated.signing_secrets(T0 + ROTATION_GRACE - TICK) == (NEW_SECRET, OLD_SECRET)
    assert rotated.signing_secrets(T0 + ROTATION_GRACE) == (NEW_SECRET,)
    assert ENDPOINT.signing_secrets(T0) == (NEW_SECRET,)


# -- URLs -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "https://hooks.example.com:8443/a/b?c=d&e=f",
        "https://HOOKS.example.com",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://localhost.example.com/",
        "https://h.example.com/" + "a" * (MAX_URL - len("https://h.example.com/")),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_public_https_url_is_accepted_as_given(url: str, allow_private: bool) -> None:
    assert checked_url(url, allow_private=allow_private) == url


def refused(url: str, *, allow_private: bool = False) -> str:
    with pytest.raises(Invalid) as raised:
        checked_url(url, allow_private=allow_private)
    [violation] = raised.value.violations
    assert violation.field == "url"
    return violation.message


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/in", "must be https"),
        ("ftp://hooks.example.com/in", "must be https"),
        ("hooks.example.com/in", "must be https"),
        ("https://user:secret@hooks.example.com/in", "credentials"),
        ("https://user@hooks.example.com/in", "credentials"),
        ("https://:secret@hooks.example.com/in", "credentials"),
        ("https://hooks.example.com/in#part", "fragment"),
        ("https:///in", "host"),
        ("https://", "host"),
        ("https://:443/in", "host"),
        ("", "characters"),
        ("https://h.example.com/" + "a" * MAX_URL, "characters"),
        ("https://hooks.example.com/in\x00", "NUL"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks .example.com/in", "spaces"),
        ("https://hooks.example.com/in\n", "spaces"),
        ("https://hooks.example.com:99999/in", "not a URL"),
        ("https://hooks.example.com:0/in", "port 0"),
        ("https://[::1/in", "not a URL"),
    ],
)
def test_a_url_that_is_not_plain_https_to_a_host_is_refused(url: str, why: str) -> None:
    assert why in refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10:8443/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://255.255.255.255/hook",
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[fe80::1]/hook",
        "https://[fe80::1%25eth0]/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[ff02::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "https://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "https://[2002:a9fe:a9fe::]/hook",  # 6to4 of 169.254.169.254
        "https://localhost/hook",
        "https://LOCALHOST:8443/hook",
        "https://localhost./hook",
        "https://localhost.localdomain/hook",
        # IPv4 as resolvers still read it: refused when the endpoint is made, not first at its first delivery
        "https://127.1/hook",
        "https://0x7f.1/hook",
        "https://0177.0.0.1/hook",
        "https://2130706433/hook",
        "https://10.1/hook",
        "https://0xa9.0xfe.0xa9.0xfe/latest/meta-data",
        "https://169.254.43518/hook",
        "https://127.1./hook",
    ],
)
def test_a_loopback_private_or_link_local_target_is_refused_unless_allowed(url: str) -> None:
    assert "loopback, private or link-local" in refused(url)
    assert checked_url(url, allow_private=True) == url


@pytest.mark.parametrize("host", ["0x", "08.1.1.1", "256.1", "1.2.3.4.5", "1.16777216", "example.0x1", "shop.42"])
def test_a_host_whose_last_label_is_a_number_must_be_an_address(host: str) -> None:
    assert "an address written in full" in refused(f"https://{host}/hook")


def test_a_public_address_in_shorthand_is_the_address_it_reads_as() -> None:
    assert shorthand_ipv4("1.1") == ipaddress.IPv4Address("1.0.0.1")
    assert shorthand_ipv4("0x08080808") == ipaddress.IPv4Address("8.8.8.8")
    assert checked_url("https://1.1/hook", allow_private=False) == "https://1.1/hook"
    assert shorthand_ipv4("example.com") is None


@PROPERTY
@given(
    address=st.ip_addresses(v=4, network="10.0.0.0/8")
    | st.ip_addresses(v=4, network="127.0.0.0/8")
    | st.ip_addresses(v=4, network="192.168.0.0/16")
    | st.ip_addresses(v=4, network="169.254.0.0/16"),
    written=st.sampled_from(["plain", "mapped", "6to4"]),
)
def test_any_private_ipv4_address_is_refused_however_it_is_written(
    address: ipaddress.IPv4Address, written: str
) -> None:
    if written == "plain":
        host = str(address)
    elif written == "mapped":
        host = f"[::ffff:{address}]"
    else:
        host = f"[{ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80))}]"

    assert "loopback" in refused(f"https://{host}/hook")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://127.0.0.1", "http://localhost:9000/", "http://[::1]:8080/"]
)
def test_allowing_private_targets_accepts_http_to_loopback(url: str) -> None:
    assert checked_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://127.0.0.1/hook", "must be https or http"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
        ("http://127.0.0.1/hook#part", "fragment"),
        ("http:///hook", "host"),
        ("http://127.0.0.1/a b", "spaces"),
        ("http://127.0.0.1/\x00", "NUL"),
    ],
)
def test_allowing_private_targets_still_refuses_what_is_not_a_plain_url(url: str, why: str) -> None:
    assert why in refused(url, allow_private=True)


# -- events -----------------------------------------------------------------------------------------------------


def test_the_subscribable_events_are_designs_eight_without_the_test_event() -> None:
    assert [t.value for t in SUBSCRIBABLE] == [
        "agent.created", "agent.updated", "agent.status_changed", "version.created", "version.compiled",
        "version.compile_failed", "label.moved", "label.deleted",
    ]  # fmt: skip
    assert EventType.WEBHOOK_TEST not in SUBSCRIBABLE


@pytest.mark.parametrize(
    "events", [[], ["webhook.test"], ["agent.created", "webhook.test"], ["agent.deleted"], ["AGENT.CREATED"], [""]]
)
def test_no_events_unknown_ones_or_the_test_event_are_refused(events: list[str]) -> None:
    with pytest.raises(Invalid) as raised:
        checked_events(events)

    [violation] = raised.value.violations
    assert violation.field == "events"
    assert "agent.created" in violation.message  # it says which are known


def test_the_refusal_names_the_unknown_events() -> None:
    with pytest.raises(Invalid) as raised:
        checked_events(["agent.created", "agent.exploded"])

    assert "'agent.exploded'" in raised.value.violations[0].message


@PROPERTY
@given(st.lists(st.sampled_from([t.value for t in SUBSCRIBABLE]), min_size=1, max_size=20))
def test_events_are_kept_once_each_in_the_designs_order(events: list[str]) -> None:
    chosen = checked_events(events)

    assert chosen == tuple(t for t in SUBSCRIBABLE if t.value in set(events))
    assert len(set(chosen)) == len(chosen)


def test_a_description_is_optional_and_bounded() -> None:
    assert checked_description(None) is None
    assert checked_description("d" * MAX_DESCRIPTION) == "d" * MAX_DESCRIPTION
    for bad in ("d" * (MAX_DESCRIPTION + 1), "a\x00b"):
        with pytest.raises(Invalid) as raised:
            checked_description(bad)
        assert raised.value.violations[0].field == "description"


# -- audit events as webhook events -----------------------------------------------------------------------------


def audit(action: Action, *, target_id: UUID = AGENT_ID, **details: object) -> AuditEvent:
    return AuditEvent(
        id=UUID(int=77), org_id=ORG_ID, actor="ann", action=action, target_id=target_id, occurred_at=T0,
        details=dict(details), agent_id=AGENT_ID,
    )  # fmt: skip


@pytest.mark.parametrize(("action", "kind"), EVENT_OF_ACTION.items())
def test_each_change_of_an_agent_is_its_event_with_the_audit_events_id(action: Action, kind: EventType) -> None:
    event = event_of(audit(action))

    assert event is not None
    assert (event.id, event.org_id, event.type, event.occurred_at) == (UUID(int=77), ORG_ID, kind, T0)


@pytest.mark.parametrize("action", [a for a in Action if a not in EVENT_OF_ACTION])
def test_other_audit_actions_are_no_event(action: Action) -> None:
    assert event_of(audit(action)) is None


def test_every_subscribable_event_is_made_by_some_action() -> None:
    assert set(EVENT_OF_ACTION.values()) == set(SUBSCRIBABLE)


def test_a_body_is_type_timestamp_and_data_about_the_agent() -> None:
    event = event_of(audit(Action.AGENT_UPDATE, before={"name": "a"}, after={"name": "b"}))

    assert event is not None
    assert msgspec.json.decode(event.body) == {
        "type": "agent.updated",
        "timestamp": "2026-01-01T12:00:00Z",
        "data": {
            "org_id": str(ORG_ID), "agent_id": str(AGENT_ID), "actor": "ann",
            "before": {"name": "a"}, "after": {"name": "b"},
        },
    }  # fmt: skip


def test_a_versions_event_names_the_version() -> None:
    version_id = UUID(int=55)

    event = event_of(audit(Action.BLUEPRINT_COMPILE, target_id=version_id, version=2, compiler_version="1"))

    assert event is not None
    body = msgspec.json.decode(event.body)
    assert (body["type"], body["data"]["version_id"], body["data"]["version"]) == (
        "version.compiled", str(version_id), 2,
    )  # fmt: skip


@pytest.mark.parametrize("action", [Action.AGENT_ACTIVATE, Action.AGENT_DEACTIVATE, Action.AGENT_DELETE])
def test_a_status_change_says_which(action: Action) -> None:
    event = event_of(audit(action, before={"status": "active"}, after={"status": "deactive"}))

    assert event is not None
    data = msgspec.json.decode(event.body)["data"]
    assert (data["action"], data["after"], "version_id" in data) == (action.value, {"status": "deactive"}, False)


@pytest.mark.parametrize("action", EVENT_OF_ACTION)
def test_every_body_has_exactly_type_timestamp_and_data(action: Action) -> None:
    event = event_of(audit(action, label="staging"))

    assert event is not None
    body = msgspec.json.decode(event.body)
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == event.type.value
    assert {"org_id", "agent_id", "actor", "label"} <= set(body["data"])


def test_a_test_event_names_the_endpoint_and_who_sent_it() -> None:
    event = make_test_event(event_id=UUID(int=9), org_id=ORG_ID, endpoint_id=ENDPOINT.id, actor="ann", now=T0)

    assert (event.id, event.type) == (UUID(int=9), EventType.WEBHOOK_TEST)
    assert msgspec.json.decode(event.body) == {
        "type": "webhook.test",
        "timestamp": "2026-01-01T12:00:00Z",
        "data": {"org_id": str(ORG_ID), "webhook_id": str(ENDPOINT.id), "actor": "ann"},
    }
