"""Idempotent retries: the first answer to a client's Idempotency-Key is kept and given back to every retry."""

import hashlib
import re
from datetime import datetime, timedelta
from typing import Final

import msgspec

from domain.errors import Malformed

TTL: Final = timedelta(hours=24)  # a key older than this is forgotten, and may be used again
KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header values safely are


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    request_hash: bytes  # what the first request asked for: a retry must ask for the same
    response: bytes  # what it was answered, as JSON, byte for byte
    created_at: datetime


def checked_key(key: str | None) -> str | None:
    if key is not None and not KEY.fullmatch(key):
        raise Malformed("Idempotency-Key", "1 to 255 visible ASCII characters")
    return key


def fingerprint(operation: str, request: object) -> bytes:
    """The same request gives the same bytes, whatever the order of its JSON keys."""
    return hashlib.sha256(operation.encode() + b"\0" + msgspec.json.encode(request, order="sorted")).digest()
