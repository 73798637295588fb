"""How the creating use cases honour an Idempotency-Key, inside their own unit of work.

The first answer is kept without the blueprint documents it reports (up to 256 KiB each): a version's document
never changes, so a retry's answer reads it back from the version itself. What is stored stays small (the rest of an
answer is bounded by its fields' own limits), and is forgotten after the key's 24 hours (application/housekeeping.py).
"""

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from application.ports import UnitOfWork
from domain.blueprints import BlueprintVersion
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
    answer: T = await _with_documents(uow, msgspec.json.decode(prior.response, type=kind))
    return answer


async def remember(
    uow: UnitOfWork, who: Principal, key: str | None, request_hash: bytes, now: datetime, answer: object
) -> None:
    """Keeps the answer with the change it reports: both commit, or neither."""
    if key is not None:
        kept = msgspec.json.encode(_without_documents(answer))
        stored = StoredResponse(request_hash=request_hash, response=kept, created_at=now)
        await uow.idempotency.save(who.org_id, key, stored, since=now - TTL)


def _without_documents(answer: Any) -> Any:
    """The answer with every version in it (itself, or one of its fields) holding an empty document."""
    if isinstance(answer, BlueprintVersion):
        return msgspec.structs.replace(answer, agent_blueprint={})
    if isinstance(answer, msgspec.Struct):
        versions = {name: value for name in answer.__struct_fields__
                    if isinstance(value := getattr(answer, name), BlueprintVersion)}  # fmt: skip
        if versions:
            return msgspec.structs.replace(answer, **{name: _without_documents(v) for name, v in versions.items()})
    return answer


async def _with_documents(uow: UnitOfWork, answer: Any) -> Any:
    """`_without_documents` undone: each version's document, read from the version."""
    if isinstance(answer, BlueprintVersion):
        stored = await uow.versions.get(answer.agent_id, answer.id)
        return msgspec.structs.replace(answer, agent_blueprint=stored.agent_blueprint)
    if isinstance(answer, msgspec.Struct):
        for name in answer.__struct_fields__:
            if isinstance(value := getattr(answer, name), BlueprintVersion):
                answer = msgspec.structs.replace(answer, **{name: await _with_documents(uow, value)})
    return answer
