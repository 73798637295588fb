"""Blueprint versions in process memory."""

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec

from domain.agents import Agent, AgentStatus
from domain.blueprints import (
    BlueprintVersion,
    CompilationStats,
    CompilationStatus,
    LivePrompt,
    VersionSummary,
    compilation_stats,
)
from domain.errors import AgentNotFound, BlueprintNotFound
from domain.labels import LATEST, PRODUCTION

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


def _detached(version: BlueprintVersion) -> BlueprintVersion:
    """A copy whose document nobody else holds: what a caller keeps or changes is not what is stored. Copied as
    PostgreSQL stores it, through JSON (copy.deepcopy would also hit the recursion limit at a few hundred levels)."""
    document = msgspec.json.decode(msgspec.json.encode(version.agent_blueprint))
    return msgspec.structs.replace(version, agent_blueprint=document)


def text_form_bytes(document: object) -> int:
    """The size of a document as PostgreSQL's `jsonb::text` writes it (migration 0017): `", "` and `": "` between
    items, UTF-8 unescaped. Numbers in exponent form (1e20) are written out by PostgreSQL; the blueprints tested
    here have none."""
    return len(json.dumps(document, ensure_ascii=False, separators=(", ", ": ")).encode())


def _summary(v: BlueprintVersion) -> VersionSummary:
    prompt = v.compiled_system_prompt
    return VersionSummary(
        id=v.id, agent_id=v.agent_id, version=v.version, created_by=v.created_by, created_at=v.created_at,
        conversation_id=v.conversation_id, compilation_status=v.compilation_status, compiled_at=v.compiled_at,
        compiled_by=v.compiled_by, compiler_version=v.compiler_version, message=v.message,
        blueprint_bytes=text_form_bytes(v.agent_blueprint),
        prompt_bytes=None if prompt is None else len(prompt.encode()),
    )  # fmt: skip


class InMemoryBlueprintRepository:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    def _of(self, agent_id: UUID) -> list[BlueprintVersion]:
        return [v for v in self._state.versions.values() if v.agent_id == agent_id]

    async def lock_for_new_version(self, org_id: UUID, agent_id: UUID) -> tuple[Agent, int]:
        agent = self._state.agents.get(agent_id)  # units of work run one at a time: holding is implied
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        return agent, 1 + max((v.version for v in self._of(agent_id)), default=0)

    async def lock_with_version(
        self, org_id: UUID, agent_id: UUID, version_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None]:
        agent = self._state.agents.get(agent_id)  # units of work run one at a time: holding is implied
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        version = self._state.versions.get(version_id)
        return agent, None if version is None or version.agent_id != agent_id else _detached(version)

    async def add(self, version: BlueprintVersion) -> None:
        self._state.versions[version.id] = _detached(version)

    async def get(self, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        version = self._state.versions.get(version_id)
        if version is None or version.agent_id != agent_id:
            raise BlueprintNotFound(agent_id, version_id)
        return _detached(version)

    async def of_agent(self, org_id: UUID, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        agent = self._state.agents.get(agent_id)
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        return await self.get(agent_id, version_id)

    async def record_compilation(self, version: BlueprintVersion) -> None:
        stored = self._state.versions[version.id]
        self._state.versions[version.id] = msgspec.structs.replace(
            stored,
            compilation_status=version.compilation_status,
            compiled_system_prompt=version.compiled_system_prompt,
            compiled_at=version.compiled_at,
            compiled_by=version.compiled_by,
            compile_errors=version.compile_errors,
            compiler_version=version.compiler_version,
            compile_warnings=version.compile_warnings,
        )

    async def latest(
        self, agent_id: UUID, *, before: int | None = None, status: CompilationStatus | None = None
    ) -> BlueprintVersion | None:
        found = self._newest_first(agent_id, before=before, status=status)
        return _detached(found[0]) if found else None

    async def get_many(self, agent_id: UUID, version_ids: Sequence[UUID]) -> list[BlueprintVersion]:
        wanted = set(version_ids)
        return [_detached(v) for v in self._newest_first(agent_id) if v.id in wanted]

    async def agent_with_versions(
        self, org_id: UUID, agent_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None, BlueprintVersion | None]:
        agent = self._state.agents.get(agent_id)
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        active = self._state.versions.get(agent.current_blueprint_id) if agent.current_blueprint_id else None
        return agent, active and _detached(active), await self.latest(agent_id)

    async def summaries(
        self,
        org_id: UUID,
        agent_id: UUID,
        *,
        limit: int,
        before: int | None,
        conversation_id: str | None = None,
        status: CompilationStatus | None = None,
    ) -> list[VersionSummary]:
        agent = self._state.agents.get(agent_id)
        if agent is None or agent.org_id != org_id:
            raise AgentNotFound(agent_id)
        found = self._newest_first(agent_id, before=before, conversation_id=conversation_id, status=status)
        return [_summary(v) for v in found[:limit]]

    def _newest_first(
        self,
        agent_id: UUID,
        *,
        before: int | None = None,
        conversation_id: str | None = None,
        status: CompilationStatus | None = None,
    ) -> list[BlueprintVersion]:
        rows = [
            v
            for v in self._of(agent_id)
            if (before is None or v.version < before)
            and (conversation_id is None or v.conversation_id == conversation_id)
            and (status is None or v.compilation_status is status)
        ]
        return sorted(rows, key=lambda v: v.version, reverse=True)

    async def live_prompt(self, org_id: UUID, agent_id: UUID, label: str) -> LivePrompt | None:
        agent = self._state.agents.get(agent_id)
        if agent is None or agent.org_id != org_id or agent.status is not AgentStatus.ACTIVE:
            return None
        version: BlueprintVersion | None
        if label == PRODUCTION:
            version = self._state.versions.get(agent.current_blueprint_id) if agent.current_blueprint_id else None
        elif label == LATEST:
            compiled = [v for v in self._of(agent_id) if v.compilation_status is CompilationStatus.COMPILED]
            version = max(compiled, key=lambda v: v.version, default=None)
        else:
            pointer = self._state.labels.get((agent_id, label))
            version = self._state.versions.get(pointer.blueprint_id) if pointer else None
        if version is None or version.compilation_status is not CompilationStatus.COMPILED:
            return None
        if version.compiled_system_prompt is None or version.compiled_at is None:
            return None
        return LivePrompt(
            agent_id=agent.id,
            blueprint_id=version.id,
            version=version.version,
            compiled_system_prompt=version.compiled_system_prompt,
            compiled_at=version.compiled_at,
            label=label,
        )

    async def stats(self, org_id: UUID) -> CompilationStats:
        live_agents = {
            agent.id
            for agent in self._state.agents.values()
            if agent.org_id == org_id and agent.status is not AgentStatus.DELETE
        }
        counts = dict.fromkeys(CompilationStatus, 0)
        for version in self._state.versions.values():
            if version.agent_id in live_agents:
                counts[version.compilation_status] += 1
        return compilation_stats(
            compiled=counts[CompilationStatus.COMPILED],
            draft=counts[CompilationStatus.DRAFT],
            failed=counts[CompilationStatus.FAILED],
        )
