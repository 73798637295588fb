"""The audit trail in process memory."""

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from application.pagination import AuditKey
from domain.audit import Action, AuditEvent

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


def _newest_first(event: AuditEvent) -> tuple[datetime, UUID]:
    return (event.occurred_at, event.id)


class InMemoryAuditLog:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def record(self, event: AuditEvent) -> None:
        self._state.audit.append(event)

    async def page(
        self,
        org_id: UUID,
        *,
        limit: int,
        after: AuditKey | None,
        agent_id: UUID | None = None,
        action: Action | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        found = (
            event
            for event in self._state.audit
            if event.org_id == org_id
            and (after is None or (event.occurred_at, event.id) < (after.occurred_at, after.id))
            and (agent_id is None or event.agent_id == agent_id)
            and (action is None or event.action == action)
            and (actor is None or event.actor == actor)
            and (since is None or event.occurred_at >= since)
            and (until is None or event.occurred_at < until)
        )
        return sorted(found, key=_newest_first, reverse=True)[:limit]

    async def purge(self, *, before: datetime, limit: int) -> int:
        oldest = sorted((event for event in self._state.audit if event.occurred_at < before), key=_newest_first)
        expired = {event.id for event in oldest[:limit]}
        self._state.audit = [event for event in self._state.audit if event.id not in expired]
        return len(expired)
