"""Use cases for agents: create, read, list, search, update, (de)activate, delete."""

from uuid import UUID

import msgspec

from application.audit import record
from application.deps import Deps
from application.idempotency import remember, replay
from application.pagination import AgentKey, Page, checked_limit, decode_cursor, page_of
from application.ports import UnitOfWork
from domain import agents as rules
from domain.agents import Agent, AgentStatus
from domain.audit import Action
from domain.blueprints import BlueprintVersion, new_version
from domain.errors import InvalidSearch
from domain.idempotency import checked_key, fingerprint
from domain.quotas import document_bytes, ensure_room
from domain.roles import Principal, ensure_can_manage, ensure_manage_scope

MAX_QUERY = 255
LIVE = frozenset({AgentStatus.ACTIVE, AgentStatus.DEACTIVE})
STATUS_ACTIONS = {
    AgentStatus.ACTIVE: Action.AGENT_ACTIVATE,
    AgentStatus.DEACTIVE: Action.AGENT_DEACTIVATE,
    AgentStatus.DELETE: Action.AGENT_DELETE,
}


class CreateAgent(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str | None = None
    idempotency_key: str | None = None  # a retry with the same key gets the first answer and creates nothing


class CreateAgentWithBlueprint(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    agent_blueprint: object
    description: str | None = None
    conversation_id: str | None = None
    message: str | None = None  # version 1's change note
    idempotency_key: str | None = None


class AgentWithBlueprint(msgspec.Struct, frozen=True, kw_only=True):
    agent: Agent
    blueprint: BlueprintVersion


class GetAgent(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID


class SetStatus(msgspec.Struct, frozen=True, kw_only=True):
    """For activate_agent, deactivate_agent and delete_agent, whose names say which status."""

    agent_id: UUID
    if_match: frozenset[str] | None = None  # the ETags the caller read; AgentChanged when the agent moved on


class ListAgents(msgspec.Struct, frozen=True, kw_only=True):
    status: AgentStatus | None = None  # None: active and deactive; deleted agents only when asked for
    limit: int | None = None
    cursor: str | None = None


class SearchAgents(msgspec.Struct, frozen=True, kw_only=True):
    query: str
    limit: int | None = None


class AgentDetail(msgspec.Struct, frozen=True, kw_only=True):
    agent: Agent
    blueprint: BlueprintVersion | None  # the active version
    latest_blueprint: BlueprintVersion | None  # the newest version, whatever its status


class UpdateAgent(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    if_match: frozenset[str] | None = None  # the ETags the caller read; AgentChanged when the agent moved on
    name: str | None = None
    description: str | None = None
    clear_description: bool = False
    status: AgentStatus | None = None


async def create_agent(deps: Deps, who: Principal, cmd: CreateAgent) -> Agent:
    """Any member creates agents in their own organization; a new agent is active and has no blueprint. A retry
    with the same Idempotency-Key gets the first answer back and creates nothing, quota or not. Past the quota of
    agents, QuotaExceeded; it reads committed usage without a lock, so creates at the same moment may pass it by at
    most the creates in flight at once."""
    ensure_manage_scope(who)
    key, now = checked_key(cmd.idempotency_key), deps.clock.now()
    asked = fingerprint("create_agent", msgspec.structs.replace(cmd, idempotency_key=None))
    agent = rules.new_agent(
        id=deps.ids.new_id(), org_id=who.org_id, name=cmd.name, description=cmd.description, created_by=who.user_id,
        now=now,
    )  # fmt: skip
    async with deps.uow() as uow:
        if (first := await replay(uow, who, key, asked, now, Agent)) is not None:
            return first
        ensure_room(deps.quotas, await uow.usage.of(who.org_id), agents=1)
        agent = await uow.agents.add(agent)
        await uow.usage.add(who.org_id, agent.id, agents=1)
        await record(uow, deps, who, Action.AGENT_CREATE, agent.id, name=agent.name)
        await remember(uow, who, key, asked, now, agent)
        await uow.commit()
    return agent


async def create_agent_with_blueprint(deps: Deps, who: Principal, cmd: CreateAgentWithBlueprint) -> AgentWithBlueprint:
    """The agent and its version 1 (a draft) in one step: both exist, or neither. Idempotent with a key (a retry is
    answered, quota or not). Past a quota (agents, versions, stored bytes), QuotaExceeded, as for create_agent."""
    ensure_manage_scope(who)
    key, now = checked_key(cmd.idempotency_key), deps.clock.now()
    asked = fingerprint("create_agent_with_blueprint", msgspec.structs.replace(cmd, idempotency_key=None))
    agent = rules.new_agent(
        id=deps.ids.new_id(), org_id=who.org_id, name=cmd.name, description=cmd.description, created_by=who.user_id,
        now=now,
    )  # fmt: skip
    version = new_version(
        id=deps.ids.new_id(), agent=agent, number=1, document=cmd.agent_blueprint, created_by=who.user_id,
        conversation_id=cmd.conversation_id, now=now, message=cmd.message,
    )  # fmt: skip
    size = document_bytes(version.agent_blueprint)
    async with deps.uow() as uow:
        if (first := await replay(uow, who, key, asked, now, AgentWithBlueprint)) is not None:
            return first
        ensure_room(deps.quotas, await uow.usage.of(who.org_id), agents=1, versions=1, stored_bytes=size)
        agent = await uow.agents.add(agent)
        await uow.versions.add(version)
        await uow.usage.add(who.org_id, agent.id, agents=1, versions=1, stored_bytes=size)
        await record(uow, deps, who, Action.AGENT_CREATE, agent.id, name=agent.name)
        noted = {} if version.message is None else {"message": version.message}
        await record(uow, deps, who, Action.BLUEPRINT_CREATE, agent.id, target_id=version.id, version=1, **noted)
        made = AgentWithBlueprint(agent=agent, blueprint=version)
        await remember(uow, who, key, asked, now, made)
        await uow.commit()
    return made


async def list_agents(deps: Deps, who: Principal, cmd: ListAgents) -> Page[Agent]:
    """The caller's organization only, newest first; deleted agents only when asked for by status."""
    ensure_manage_scope(who)
    limit = checked_limit(cmd.limit)
    after = decode_cursor(cmd.cursor, AgentKey)
    statuses = LIVE if cmd.status is None else frozenset({cmd.status})
    async with deps.uow(read_only=True) as uow:
        rows = await uow.agents.page(who.org_id, statuses=statuses, limit=limit + 1, after=after)
    return page_of(rows, limit, lambda agent: AgentKey(created_at=agent.created_at, id=agent.id))


async def search_agents(deps: Deps, who: Principal, cmd: SearchAgents) -> list[Agent]:
    """Name contains the query, ignoring case, within the caller's organization; deleted agents are left out."""
    ensure_manage_scope(who)
    limit = checked_limit(cmd.limit)
    query = cmd.query.strip()
    if not 1 <= len(query) <= MAX_QUERY or rules.NUL in query:
        raise InvalidSearch(f"1 to {MAX_QUERY} characters, not blank, no NUL character")
    async with deps.uow(read_only=True) as uow:
        return await uow.agents.search(who.org_id, query, limit=limit)


async def get_agent(deps: Deps, who: Principal, cmd: GetAgent) -> AgentDetail:
    """An agent of the caller's organization (deleted ones too) with its active and its newest version."""
    ensure_manage_scope(who)
    async with deps.uow(read_only=True) as uow:
        agent, active, latest = await uow.versions.agent_with_versions(who.org_id, cmd.agent_id)
    return AgentDetail(agent=agent, blueprint=active, latest_blueprint=latest)


async def update_agent(deps: Deps, who: Principal, cmd: UpdateAgent) -> Agent:
    """Owners and admins rename, describe or set the status; a deleted agent is frozen (AgentDeleted)."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    async with deps.uow() as uow:
        before = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        rules.ensure_unchanged(before, cmd.if_match)
        after = rules.update_agent(
            before, name=cmd.name, description=cmd.description, clear_description=cmd.clear_description,
            status=cmd.status, now=deps.clock.now(),
        )  # fmt: skip
        if after is not before:
            await _count_deletion(deps, uow, before, after)
            await uow.agents.update(after)
            changed = [f for f in ("name", "description", "status") if getattr(after, f) != getattr(before, f)]
            # A status change is audited as what it is (agent.delete, …) whichever endpoint made it.
            action = STATUS_ACTIONS[after.status] if "status" in changed else Action.AGENT_UPDATE
            await record(uow, deps, who, action, after.id, before={f: getattr(before, f) for f in changed},
                         after={f: getattr(after, f) for f in changed})  # fmt: skip
            await uow.commit()
            deps.live.agent_changed(after.id)  # this process reads its own write; others hear 0007's notice
    return after


async def _set_status(deps: Deps, who: Principal, cmd: SetStatus, status: AgentStatus) -> Agent:
    ensure_can_manage(who)
    async with deps.uow() as uow:
        before = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        rules.ensure_unchanged(before, cmd.if_match)
        after = rules.set_status(before, status, now=deps.clock.now())
        if after is not before:
            await _count_deletion(deps, uow, before, after)
            await uow.agents.update(after)
            await record(uow, deps, who, STATUS_ACTIONS[status], after.id, before={"status": before.status},
                         after={"status": after.status})  # fmt: skip
            await uow.commit()
            deps.live.agent_changed(after.id)
    return after


async def _count_deletion(deps: Deps, uow: UnitOfWork, before: Agent, after: Agent) -> None:
    """A deleted agent frees its place in the quota of agents; one brought back (no use case does so today: a deleted
    agent is frozen) would need room again."""
    change = (after.status is not AgentStatus.DELETE) - (before.status is not AgentStatus.DELETE)
    if change > 0:
        ensure_room(deps.quotas, await uow.usage.of(after.org_id), agents=change)
    if change:
        await uow.usage.add(after.org_id, after.id, agents=change)


async def activate_agent(deps: Deps, who: Principal, cmd: SetStatus) -> Agent:
    """Owners and admins switch an agent on; its live prompt is served again."""
    ensure_manage_scope(who)
    return await _set_status(deps, who, cmd, AgentStatus.ACTIVE)


async def deactivate_agent(deps: Deps, who: Principal, cmd: SetStatus) -> Agent:
    """Owners and admins switch an agent off: it keeps its versions, but serves no live prompt."""
    ensure_manage_scope(who)
    return await _set_status(deps, who, cmd, AgentStatus.DEACTIVE)


async def delete_agent(deps: Deps, who: Principal, cmd: SetStatus) -> Agent:
    """Owners and admins soft-delete: the agent stays readable, frozen, and frees its place in the quota of agents
    (its versions still count); deleting it again changes nothing."""
    ensure_manage_scope(who)
    return await _set_status(deps, who, cmd, AgentStatus.DELETE)
