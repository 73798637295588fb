"""What each organization stores, counted in process memory."""

from typing import TYPE_CHECKING
from uuid import UUID

from domain.quotas import Usage

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


class InMemoryUsageRepository:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def of(self, org_id: UUID) -> Usage:
        return self._state.usage.get(org_id, Usage())

    async def add(self, org_id: UUID, agent_id: UUID, *, agents: int = 0, versions: int = 0,
                  stored_bytes: int = 0) -> None:  # fmt: skip
        was = self._state.usage.get(org_id, Usage())  # one count per organization: units of work run one at a time
        self._state.usage[org_id] = Usage(
            agents=was.agents + agents, versions=was.versions + versions, stored_bytes=was.stored_bytes + stored_bytes
        )
