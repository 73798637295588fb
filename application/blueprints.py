"""Use cases for blueprint versions: write, read, list, compile, activate (and roll back), the live prompt, stats."""

from datetime import datetime
from uuid import UUID

import msgspec

from application.audit import record
from application.deps import Deps
from application.idempotency import remember, replay
from application.pagination import Page, VersionKey, checked_limit, decode_cursor, page_of
from application.ports import UnitOfWork
from application.tokens import cached_principal
from domain import blueprints as rules
from domain.agents import Agent, ensure_unchanged
from domain.audit import Action
from domain.blueprints import BlueprintVersion, CompilationStats, CompilationStatus, LivePrompt
from domain.errors import InvalidBlueprint, NoLivePrompt, Violation
from domain.idempotency import checked_key, fingerprint
from domain.roles import Principal, ensure_can_manage


class AddVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    agent_blueprint: object
    conversation_id: str | None = None
    idempotency_key: str | None = None  # a retry with the same key gets the first answer and creates nothing


class GetVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID


class GetLivePrompt(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID


class GetCompilationStats(msgspec.Struct, frozen=True, kw_only=True):
    """Of the caller's organization."""


class ListVersions(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    limit: int | None = None
    cursor: str | None = None
    conversation_id: str | None = None


class ListCompiledVersions(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    limit: int | None = None
    cursor: str | None = None


class CompileVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID
    activate: bool = False
    if_match: frozenset[str] | None = None  # checked against the agent when `activate` would change it


class CompileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a compile request tells its caller: the version as it now stands, the compiler's warnings, the agent
    (after activation, when asked for) and a sentence saying what happened."""

    blueprint: BlueprintVersion
    warnings: list[Violation]
    agent: Agent  # after activation, when asked for
    message: str


class ActivateVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID
    if_match: frozenset[str] | None = None  # the agent's ETags as the caller read it


async def add_version(deps: Deps, who: Principal, cmd: AddVersion) -> BlueprintVersion:
    """Any member adds a draft; it gets the agent's next number (no gaps, never reused, even under concurrent
    writers) and never becomes active by itself. A deleted agent takes none (AgentDeleted). Idempotent with a key."""
    key, now = checked_key(cmd.idempotency_key), deps.clock.now()
    asked = fingerprint("add_version", msgspec.structs.replace(cmd, idempotency_key=None))
    async with deps.uow() as uow:
        agent, number = await uow.versions.lock_for_new_version(who.org_id, cmd.agent_id)
        if (first := await replay(uow, who, key, asked, now, BlueprintVersion)) is not None:
            return first
        version = rules.new_version(
            id=deps.ids.new_id(), agent=agent, number=number, document=cmd.agent_blueprint, created_by=who.user_id,
            conversation_id=cmd.conversation_id, now=now,
        )  # fmt: skip
        await uow.versions.add(version)
        await record(
            uow, deps, who, Action.BLUEPRINT_CREATE, version.id, agent_id=str(agent.id), version=version.version
        )
        await remember(uow, who, key, asked, now, version)
        await uow.commit()
    return version


async def list_versions(deps: Deps, who: Principal, cmd: ListVersions) -> Page[BlueprintVersion]:
    """Newest first, optionally only those written in one conversation."""
    return await _list(deps, who, cmd.agent_id, cmd.limit, cmd.cursor, conversation_id=cmd.conversation_id)


async def list_compiled_versions(deps: Deps, who: Principal, cmd: ListCompiledVersions) -> Page[BlueprintVersion]:
    """The compiled versions, newest first: the candidates for activation and rollback."""
    return await _list(deps, who, cmd.agent_id, cmd.limit, cmd.cursor, status=CompilationStatus.COMPILED)


async def _list(
    deps: Deps,
    who: Principal,
    agent_id: UUID,
    limit: int | None,
    cursor: str | None,
    *,
    conversation_id: str | None = None,
    status: CompilationStatus | None = None,
) -> Page[BlueprintVersion]:
    size = checked_limit(limit)
    key = decode_cursor(cursor, VersionKey)
    async with deps.uow() as uow:
        agent = await uow.agents.get(who.org_id, agent_id)
        rows = await uow.versions.page(
            agent.id, limit=size + 1, before=key.version if key else None, conversation_id=conversation_id,
            status=status,
        )  # fmt: skip
    return page_of(rows, size, lambda version: VersionKey(version=version.version))


async def get_version(deps: Deps, who: Principal, cmd: GetVersion) -> BlueprintVersion:
    """A version of an agent of the caller's organization, its compilation included; a version of another agent
    is not found."""
    async with deps.uow() as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        return await uow.versions.get(agent.id, cmd.version_id)


async def compile_version(deps: Deps, who: Principal, cmd: CompileVersion) -> CompileReport:
    """Owners and admins compile. A valid document -> `compiled` with its prompt; an invalid one is recorded
    `failed` and then InvalidBlueprint lists every violation. Compiling a compiled version returns the stored
    result. With `activate`, a successful compile also makes the version live, in the same transaction."""
    ensure_can_manage(who)
    async with deps.uow() as uow:
        agent = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        if cmd.activate:
            ensure_unchanged(agent, cmd.if_match)  # before anything is recorded: a stale caller changes nothing
        version = await uow.versions.get(agent.id, cmd.version_id)
        now = deps.clock.now()
        outcome = rules.compile_version(agent, version, by=who.user_id, now=now)
        compiled = outcome.version
        if outcome.changed:
            await uow.versions.record_compilation(compiled)
            ok = compiled.compilation_status is CompilationStatus.COMPILED
            action = Action.BLUEPRINT_COMPILE if ok else Action.BLUEPRINT_COMPILE_FAILED
            await record(uow, deps, who, action, compiled.id, agent_id=str(agent.id), version=compiled.version,
                         compiler_version=compiled.compiler_version)  # fmt: skip
        if compiled.compilation_status is CompilationStatus.FAILED:
            await uow.commit()  # the failure is recorded, then reported
            raise InvalidBlueprint(compiled.compile_errors or [])
        if cmd.activate:
            agent = await _activate(uow, deps, who, agent, compiled, now)
        await uow.commit()
    deps.live.agent_changed(agent.id)  # this process reads its own write; the others hear migration 0007's notice
    message = "compiled" if outcome.changed else "already compiled; the stored result stands"
    if cmd.activate:
        message += "; active"
    return CompileReport(blueprint=compiled, warnings=outcome.warnings, agent=agent, message=message)


async def activate_version(deps: Deps, who: Principal, cmd: ActivateVersion) -> Agent:
    """Owners and admins make a compiled version live (VersionNotCompiled otherwise); activating an older
    compiled version is the rollback."""
    ensure_can_manage(who)
    async with deps.uow() as uow:
        agent = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        ensure_unchanged(agent, cmd.if_match)
        version = await uow.versions.get(agent.id, cmd.version_id)
        agent = await _activate(uow, deps, who, agent, version, deps.clock.now())
        await uow.commit()
    deps.live.agent_changed(agent.id)
    return agent


async def _activate(
    uow: UnitOfWork, deps: Deps, who: Principal, agent: Agent, version: BlueprintVersion, now: datetime
) -> Agent:
    activated = rules.activate(agent, version, now=now)
    if activated is not agent:
        await uow.agents.update(activated)
        previous = str(agent.current_blueprint_id) if agent.current_blueprint_id else None
        await record(uow, deps, who, Action.BLUEPRINT_ACTIVATE, version.id, agent_id=str(agent.id),
                     version=version.version, previous_blueprint_id=previous)  # fmt: skip
    return activated


async def get_live_prompt(deps: Deps, who: Principal, cmd: GetLivePrompt) -> LivePrompt:
    """The active compiled prompt of an active agent; NoLivePrompt when it is switched off, deleted or has no
    active version (an agent of another organization is not found either way). Served from memory when the live
    cache holds it (see application/live_cache.py), else one indexed query."""
    cached = deps.live.prompt(who.org_id, cmd.agent_id)
    if cached is not None:
        return cached
    ticket = deps.live.ticket()
    async with deps.uow() as uow:
        live = await uow.versions.live_prompt(who.org_id, cmd.agent_id)
        if live is None:
            await uow.agents.get(who.org_id, cmd.agent_id)  # AgentNotFound for an unknown or foreign agent
            raise NoLivePrompt(cmd.agent_id)
    deps.live.keep_prompt(ticket, who.org_id, live)
    return live


def live_prompt_from_memory(deps: Deps, secret: str, cmd: GetLivePrompt) -> LivePrompt | None:
    """`get_live_prompt` for the token `secret`, when the live cache holds both its principal and the prompt; else
    None, and `authenticate` with `get_live_prompt` answer (errors included). No IO and no await: the HTTP hot path
    asks this before any framework work."""
    who = cached_principal(deps, secret)
    return None if who is None else deps.live.prompt(who.org_id, cmd.agent_id)


async def get_compilation_stats(deps: Deps, who: Principal, cmd: GetCompilationStats) -> CompilationStats:
    """Counts over the caller's organization only; deleted agents are not counted."""
    async with deps.uow() as uow:
        return await uow.versions.stats(who.org_id)
