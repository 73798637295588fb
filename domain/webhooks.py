"""Webhooks: the endpoints an organization registers, the events they are told of, and when a delivery is retried.

An event is the audit event of a change (its id is the audit event's id, stable across retries: receivers
deduplicate on it), written in the same transaction as the change. Each endpoint subscribed to its type gets one
delivery, attempted until the endpoint answers 2xx, on the schedule below (about a day), then `failed`.
"""

import ipaddress
import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit
from uuid import UUID

import msgspec

from domain.agents import MAX_NAME, NO_NUL, NUL
from domain.audit import Action, AuditEvent
from domain.errors import Invalid, Violation

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - Standard Webhooks' prefix of a base64 secret
SECRET_BYTES: Final = 24  # Standard Webhooks asks for 24 to 64 random bytes
MAX_URL: Final = 2048
MAX_DESCRIPTION: Final = MAX_NAME
MAX_RESPONSE_EXCERPT: Final = 1024  # characters of a receiver's answer kept in the delivery log
REPLACEMENT: Final = "\ufffd"  # stands for a NUL character of a receiver's answer in the delivery log
MAX_RESPONSE_READ: Final = 64 * 1024  # bytes of a receiver's answer read at most; the rest is not waited for
ROTATION_GRACE: Final = timedelta(hours=24)  # after a rotation, deliveries carry the old key's signature too

# Seconds after each failed attempt, Standard Webhooks' (Svix's) schedule: 8 attempts over about 27 hours. Each
# delay is spread by ±20 % (jitter) so that endpoints failing together are not retried together.
RETRY_DELAYS_S: Final = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS: Final = len(RETRY_DELAYS_S) + 1
JITTER: Final = 0.2
MAX_RETRY_AFTER_S: Final = 3600.0  # a receiver's Retry-After is honoured up to an hour
# An endpoint whose deliveries have all failed for this long is disabled (and that is audited) at its next failure;
# its pending deliveries wait for it to be enabled again.
DISABLE_AFTER: Final = timedelta(days=5)


class EventType(StrEnum):
    AGENT_CREATED = "agent.created"
    AGENT_UPDATED = "agent.updated"
    AGENT_STATUS_CHANGED = "agent.status_changed"
    VERSION_CREATED = "version.created"
    VERSION_COMPILED = "version.compiled"
    VERSION_COMPILE_FAILED = "version.compile_failed"
    LABEL_MOVED = "label.moved"
    LABEL_DELETED = "label.deleted"
    WEBHOOK_TEST = "webhook.test"  # sent by POST /webhooks/{id}/test, to that endpoint only


SUBSCRIBABLE: Final = tuple(t for t in EventType if t is not EventType.WEBHOOK_TEST)

# The audit actions that are webhook events; the others (token keys, label protection, webhooks' own) are not.
EVENT_OF_ACTION: Final[dict[Action, EventType]] = {
    Action.AGENT_CREATE: EventType.AGENT_CREATED,
    Action.AGENT_UPDATE: EventType.AGENT_UPDATED,
    Action.AGENT_ACTIVATE: EventType.AGENT_STATUS_CHANGED,
    Action.AGENT_DEACTIVATE: EventType.AGENT_STATUS_CHANGED,
    Action.AGENT_DELETE: EventType.AGENT_STATUS_CHANGED,
    Action.BLUEPRINT_CREATE: EventType.VERSION_CREATED,
    Action.BLUEPRINT_COMPILE: EventType.VERSION_COMPILED,
    Action.BLUEPRINT_COMPILE_FAILED: EventType.VERSION_COMPILE_FAILED,
    Action.LABEL_MOVE: EventType.LABEL_MOVED,
    Action.LABEL_DELETE: EventType.LABEL_DELETED,
}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    org_id: UUID
    url: str
    events: tuple[EventType, ...]  # in SUBSCRIBABLE's order, each once
    description: str | None
    enabled: bool
    secret: str  # whsec_…: shown once, when created or rotated
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None  # still signs until previous_secret_until (a rotation's grace)
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None  # the first failed attempt since the last success (None: healthy)
    disabled_reason: str | None = None  # why the service disabled it; None when a person did, or it is enabled

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        if (
            self.previous_secret is not None
            and self.previous_secret_until is not None
            and now < self.previous_secret_until
        ):
            return (self.secret, self.previous_secret)
        return (self.secret,)


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What every endpoint subscribed to `type` is sent: `body` is the JSON request body, fixed when the event is
    written so that every attempt sends the same bytes."""

    id: UUID
    org_id: UUID
    type: EventType
    occurred_at: datetime
    body: bytes


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: EventType
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0  # since it was last queued (a retry by hand starts a new schedule)
    next_attempt_at: datetime | None = None  # None once delivered or failed
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None  # why the last attempt failed without a status code (refused address, timeout, …)
    last_response: str | None = None  # the start of the receiver's last answer (MAX_RESPONSE_EXCERPT characters)
    delivered_at: datetime | None = None
    seq: int = 0  # the order deliveries were queued in (storage assigns it)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt got: a status code, or an error before any answer (refused address, timeout, refused
    connection)."""

    status_code: int | None = None
    error: str | None = None
    response: str = ""
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_of(audit: AuditEvent) -> WebhookEvent | None:
    """The webhook event an audit event is, or None when its action is not one."""
    kind = EVENT_OF_ACTION.get(audit.action)
    if kind is None:
        return None
    data: dict[str, object] = {"org_id": audit.org_id, "agent_id": audit.agent_id, "actor": audit.actor}
    if audit.target_id != audit.agent_id:
        data["version_id"] = audit.target_id
    if kind is EventType.AGENT_STATUS_CHANGED:
        data["action"] = audit.action.value
    data.update(audit.details)
    return WebhookEvent(
        id=audit.id,
        org_id=audit.org_id,
        type=kind,
        occurred_at=audit.occurred_at,
        body=body_of(kind, audit.occurred_at, data),
    )


def test_event(*, event_id: UUID, org_id: UUID, endpoint_id: UUID, actor: str, now: datetime) -> WebhookEvent:
    data = {"org_id": org_id, "webhook_id": endpoint_id, "actor": actor}
    return WebhookEvent(
        id=event_id,
        org_id=org_id,
        type=EventType.WEBHOOK_TEST,
        occurred_at=now,
        body=body_of(EventType.WEBHOOK_TEST, now, data),
    )


def body_of(kind: EventType, occurred_at: datetime, data: dict[str, object]) -> bytes:
    """Standard Webhooks' body: `{type, timestamp, data}`."""
    return msgspec.json.encode({"type": kind.value, "timestamp": occurred_at, "data": data})


def after_attempt(delivery: Delivery, outcome: Outcome, *, now: datetime, jitter: float) -> Delivery:
    """The delivery once an attempt made at `now` got `outcome`; `jitter` is a random number in [0, 1)."""
    attempts = delivery.attempts + 1
    common = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status_code": outcome.status_code,
        "last_error": None if outcome.error is None else outcome.error.replace(NUL, REPLACEMENT),
        # a receiver's answer may hold NUL, which PostgreSQL text cannot
        "last_response": outcome.response[:MAX_RESPONSE_EXCERPT].replace(NUL, REPLACEMENT) or None,
    }
    if outcome.delivered:
        return msgspec.structs.replace(
            delivery, status=DeliveryStatus.DELIVERED, next_attempt_at=None, delivered_at=now, **common
        )
    if attempts >= MAX_ATTEMPTS:
        return msgspec.structs.replace(delivery, status=DeliveryStatus.FAILED, next_attempt_at=None, **common)
    delay = RETRY_DELAYS_S[attempts - 1] * (1 - JITTER + 2 * JITTER * jitter)
    if outcome.retry_after_s is not None:
        delay = max(delay, min(outcome.retry_after_s, MAX_RETRY_AFTER_S))
    return msgspec.structs.replace(delivery, next_attempt_at=now + timedelta(seconds=delay), **common)


def should_disable(endpoint: Endpoint, *, now: datetime) -> bool:
    """After a failed attempt: the endpoint has answered nothing but failures for DISABLE_AFTER."""
    return endpoint.enabled and endpoint.failing_since is not None and now - endpoint.failing_since >= DISABLE_AFTER


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (RFC 9110: delay-seconds; an HTTP date is not honoured)."""
    text = "" if value is None else value.strip()
    if not (text.isascii() and text.isdigit()):  # str.isdigit() also takes "²", which float() refuses
        return None
    return float(text)


# -- what may be registered -----------------------------------------------------------------------------------


NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def shorthand_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written as resolvers still read it (`127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433`): the
    last label numeric makes a host an address, as URL parsers take it; None when `host` is not one."""
    labels = host.rstrip(".").split(".")
    if not 1 <= len(labels) <= 4 or not all(NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    try:
        values = [int(label, 16) if label[:2].lower() == "0x" else int(label, 8 if len(label) > 1 and label[0] == "0"
                  else 10) for label in labels]  # fmt: skip
    except ValueError:  # `0x` alone, or an 8 or 9 in an octal label
        return None
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = sum(value << (8 * (3 - index)) for index, value in enumerate(leading)) + last
    return ipaddress.IPv4Address(number)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Routable on the internet: not loopback, private, link-local, shared, multicast or reserved (also when written
    as an IPv4-mapped or 6to4 IPv6 address)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return is_public_address(inner)
    return address.is_global and not address.is_multicast


def checked_url(url: str, *, allow_private: bool) -> str:
    """An https URL (http too when the operator allows private targets), with a host, without credentials or a
    fragment; a literal address must be public unless private targets are allowed. A name is resolved, and its
    addresses checked the same way, when each delivery is sent."""
    problems = url_problems(url, allow_private=allow_private)
    if problems:
        raise Invalid("the webhook URL cannot be used", [Violation(field="url", message=problems)])
    return url


def url_problems(url: str, *, allow_private: bool) -> str | None:
    if not url or len(url) > MAX_URL:
        return f"must be 1 to {MAX_URL} characters"
    if NUL in url or any(c.isspace() for c in url):
        return f"{NO_NUL}, nor spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        return f"is not a URL: {exc}"
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        return "must be https" if not allow_private else "must be https or http"
    if not host:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials: receivers check the signature instead"
    if parts.fragment:
        return "must not have a fragment"
    if port == 0:
        return "must not use port 0"
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = shorthand_ipv4(host)
    if literal is None and NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        return "must name a host: a name, or an address written in full"
    if literal is not None and not allow_private and not is_public_address(literal):
        return "must not point at a loopback, private or link-local address"
    if literal is None and not allow_private and host.rstrip(".").lower() in {"localhost", "localhost.localdomain"}:
        return "must not point at a loopback, private or link-local address"
    return None


def checked_events(events: list[str]) -> tuple[EventType, ...]:
    known = {t.value: t for t in SUBSCRIBABLE}
    unknown = [e for e in events if e not in known]
    if not events or unknown:
        got = f"; not {', '.join(repr(e) for e in unknown[:5])}" if unknown else ""
        raise Invalid(
            "the webhook's events cannot be used",
            [Violation(field="events", message=f"one or more of {', '.join(known)}{got}")],
        )
    chosen = set(events)
    return tuple(t for t in SUBSCRIBABLE if t.value in chosen)


def checked_description(description: str | None) -> str | None:
    if description is not None and (len(description) > MAX_DESCRIPTION or NUL in description):
        raise Invalid(
            "the webhook's description cannot be used",
            [Violation(field="description", message=f"at most {MAX_DESCRIPTION} characters; {NO_NUL}")],
        )
    return description
