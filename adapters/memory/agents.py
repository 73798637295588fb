"""Agents in process memory."""

from collections.abc import Collection
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec

from application.pagination import AgentKey
from domain.agents import Agent, AgentStatus
from domain.errors import AgentNotFound

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


def newest_first(agent: Agent) -> tuple[object, ...]:
    return (agent.created_at, agent.id)


class InMemoryAgentRepository:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def add(self, agent: Agent) -> Agent:
        self._state.last_agent_number += 1
        stored = msgspec.structs.replace(agent, number=self._state.last_agent_number)
        self._state.agents[stored.id] = stored
        return stored

    async def get(self, org_id: UUID, agent_id: UUID) -> Agent:
        agent = self._state.agents.get(agent_id)
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        return agent

    async def get_for_update(self, org_id: UUID, agent_id: UUID) -> Agent:
        return await self.get(org_id, agent_id)  # units of work run one at a time: holding is implied

    async def update(self, agent: Agent) -> None:
        self._state.agents[agent.id] = agent

    async def page(
        self, org_id: UUID, *, statuses: Collection[AgentStatus], limit: int, after: AgentKey | None
    ) -> list[Agent]:
        rows = (
            agent
            for agent in self._state.agents.values()
            if agent.org_id == org_id
            and agent.status in statuses
            and (after is None or (agent.created_at, agent.id) < (after.created_at, after.id))
        )
        return sorted(rows, key=newest_first, reverse=True)[:limit]

    async def search(self, org_id: UUID, query: str, *, limit: int) -> list[Agent]:
        needle = query.lower()
        rows = (
            agent
            for agent in self._state.agents.values()
            if agent.org_id == org_id and agent.status is not AgentStatus.DELETE and needle in agent.name.lower()
        )
        return sorted(rows, key=newest_first, reverse=True)[:limit]
