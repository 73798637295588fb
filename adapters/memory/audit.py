"""The audit trail in process memory."""

from typing import TYPE_CHECKING
from uuid import UUID

from domain.audit import AuditEvent

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


class InMemoryAuditLog:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def record(self, event: AuditEvent) -> None:
        self._state.audit.append(event)

    async def events(self, org_id: UUID, *, target_id: UUID | None = None) -> list[AuditEvent]:
        found = [
            event
            for event in self._state.audit
            if event.org_id == org_id and (target_id is None or event.target_id == target_id)
        ]
        return sorted(found, key=lambda event: (event.occurred_at, event.id))
