"""How the creating use cases honour an Idempotency-Key, inside their own unit of work."""

from datetime import datetime
from typing import TypeVar

import msgspec

from application.ports import UnitOfWork
from domain.errors import IdempotencyKeyReused
from domain.idempotency import TTL, StoredResponse
from domain.roles import Principal

T = TypeVar("T")


async def replay(
    uow: UnitOfWork, who: Principal, key: str | None, request_hash: bytes, now: datetime, kind: type[T]
) -> T | None:
    """The first answer to this key, when there is one; IdempotencyKeyReused when it answered another request."""
    if key is None:
        return None
    prior = await uow.idempotency.find(who.org_id, key, since=now - TTL)
    if prior is None:
        return None
    if prior.request_hash != request_hash:
        raise IdempotencyKeyReused
    return msgspec.json.decode(prior.response, type=kind)


async def remember(
    uow: UnitOfWork, who: Principal, key: str | None, request_hash: bytes, now: datetime, answer: object
) -> None:
    """Keeps the answer with the change it reports: both commit, or neither."""
    if key is not None:
        stored = StoredResponse(request_hash=request_hash, response=msgspec.json.encode(answer), created_at=now)
        await uow.idempotency.save(who.org_id, key, stored, since=now - TTL)
