"""First answers to Idempotency-Keys in process memory."""

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.errors import ConcurrentUpdate
from domain.idempotency import StoredResponse

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


class InMemoryIdempotencyLog:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def find(self, org_id: UUID, key: str, *, since: datetime) -> StoredResponse | None:
        stored = self._state.idempotency.get((org_id, key))
        return stored if stored is not None and stored.created_at > since else None

    async def save(self, org_id: UUID, key: str, stored: StoredResponse, *, since: datetime) -> None:
        if await self.find(org_id, key, since=since) is not None:
            raise ConcurrentUpdate("another request with this Idempotency-Key was answered meanwhile; retry")
        self._state.idempotency[(org_id, key)] = stored

    async def purge(self, *, before: datetime, limit: int) -> int:
        expired = [key for key, stored in self._state.idempotency.items() if stored.created_at <= before][:limit]
        for key in expired:
            del self._state.idempotency[key]
        return len(expired)
