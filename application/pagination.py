"""Lists: a page size within bounds and an opaque keyset cursor, so pages stay stable while rows are inserted."""

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Final, Generic, TypeVar
from uuid import UUID

import msgspec

from domain.errors import Malformed

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
MAX_CURSOR: Final = 512

T = TypeVar("T")
K = TypeVar("K", bound=msgspec.Struct)


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    items: list[T]
    next_cursor: str | None  # None on the last page


def checked_limit(limit: int | None, maximum: int = MAX_LIMIT) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= maximum:
        raise Malformed("limit", f"must be between 1 and {maximum}")
    return limit


def encode_cursor(key: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_type: type[K]) -> K | None:
    """The key a cursor of ours stands for; anything we did not issue for this list is Malformed."""
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=key_type)
    except (ValueError, binascii.Error, msgspec.DecodeError):
        raise Malformed("cursor", "not a cursor of this list; use next_cursor as given") from None


def page_of(rows: list[T], limit: int, key_of: Callable[[T], msgspec.Struct]) -> Page[T]:
    """`rows` holds up to limit + 1 items: the extra one only says that there is a next page."""
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    items = rows[:limit]
    return Page(items=items, next_cursor=encode_cursor(key_of(items[-1])))


class VersionKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in an agent's version list (newest first): the number of the last version of a page."""

    version: int


class AgentKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in an organization's agent list (newest first): the last agent of a page."""

    created_at: Annotated[datetime, msgspec.Meta(tz=True)]  # a naive time cannot be ordered against stored ones
    id: UUID


TokenKey = AgentKey  # tokens are listed as agents are: newest first by created_at, then id
WebhookKey = AgentKey  # and webhook endpoints too


class DeliveryKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in an endpoint's delivery log (newest first): the seq of the last delivery of a page."""

    seq: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]  # a BIGINT identity, from 1: a forged one is Malformed


class AuditKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in an audit trail (newest first): the last event of a page."""

    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)]
    id: UUID
