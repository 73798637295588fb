"""Use cases for blueprint versions: write, read, list, compile, activate (and roll back), the live prompt, stats."""

import asyncio
from collections.abc import Callable
from typing import Final
from uuid import UUID

import msgspec

from application.audit import record
from application.deps import Deps
from application.idempotency import remember, replay
from application.labels import found_version, move_label
from application.pagination import Page, VersionKey, checked_limit, decode_cursor, encode_cursor, page_of
from application.tokens import cached_principal
from domain import blueprints as rules
from domain.agents import NO_NUL, NUL, Agent, ensure_unchanged
from domain.audit import Action
from domain.blueprints import BlueprintVersion, CompilationStats, CompilationStatus, LivePrompt, VersionSummary
from domain.compiler import CompilerOutput
from domain.errors import InvalidBlueprint, Malformed, NoLivePrompt, Violation
from domain.idempotency import checked_key, fingerprint
from domain.labels import PRODUCTION, checked_name
from domain.quotas import document_bytes, ensure_room
from domain.roles import Principal, ensure_can_manage, ensure_manage_scope


class AddVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    agent_blueprint: object
    conversation_id: str | None = None
    message: str | None = None  # the change note
    idempotency_key: str | None = None  # a retry with the same key gets the first answer and creates nothing


class GetVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID


MAX_WAIT_S: Final = 60  # a watch is held at most this long


class GetLivePrompt(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    label: str = PRODUCTION


class WatchLivePrompt(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    wait_s: float  # 0 < wait_s <= MAX_WAIT_S
    label: str = PRODUCTION


class GetCompilationStats(msgspec.Struct, frozen=True, kw_only=True):
    """Of the caller's organization."""


class PreviewBlueprint(msgspec.Struct, frozen=True, kw_only=True):
    agent_blueprint: object
    agent_id: UUID | None = None  # the agent it would be a version of: compiled as compile_version would


class ListVersions(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    limit: int | None = None
    cursor: str | None = None
    conversation_id: str | None = None
    documents: bool = False  # each summary with its whole version; the page is then bounded by MAX_PAGE_BYTES


class ListCompiledVersions(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    limit: int | None = None
    cursor: str | None = None
    documents: bool = False


class ListedVersion(VersionSummary, frozen=True, kw_only=True):
    whole: BlueprintVersion | None = None  # the version itself, when documents were asked for


# A page of versions with their documents carries at most this many bytes of documents and prompts (by their
# summaries' sizes), and at least one version however large: 20 versions of 240 KiB would be 4.8 MB.
MAX_PAGE_BYTES: Final = 2 * 1024 * 1024


class CompileVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID
    activate: bool = False  # the seed's way to say label="production"
    label: str | None = None  # move this label to the version once it compiled
    # With `activate`, the agent's ETags (the seed's activate route checks the same); with `label`, the label's.
    if_match: frozenset[str] | None = None


class CompileReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a compile request tells its caller: the version as it now stands, the compiler's warnings, the agent
    (after activation, when asked for) and a sentence saying what happened."""

    blueprint: BlueprintVersion
    warnings: list[Violation]
    agent: Agent  # after activation, when asked for
    message: str
    label: str | None = None  # the label moved to the version, when asked for


class ActivateVersion(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID
    if_match: frozenset[str] | None = None  # the agent's ETags as the caller read it


async def add_version(deps: Deps, who: Principal, cmd: AddVersion) -> BlueprintVersion:
    """Any member adds a draft; it gets the agent's next number (no gaps, never reused, even under concurrent
    writers) and never becomes active by itself. A deleted agent takes none (AgentDeleted). Idempotent with a key:
    a retry is answered, quota or not. Past the organization's quota of versions or of stored bytes, QuotaExceeded;
    the usage is read as committed, without a lock, so writers at the same moment may pass a quota by at most the
    versions in flight at once (a lock on the organization would make its writers queue on one row)."""
    ensure_manage_scope(who)
    key, now = checked_key(cmd.idempotency_key), deps.clock.now()
    asked = fingerprint("add_version", msgspec.structs.replace(cmd, idempotency_key=None))
    size = document_bytes(cmd.agent_blueprint)  # the version keeps the document verbatim: its size, before the lock
    async with deps.uow() as uow:
        agent, number = await uow.versions.lock_for_new_version(who.org_id, cmd.agent_id)
        if (first := await replay(uow, who, key, asked, now, BlueprintVersion)) is not None:
            return first
        version = rules.new_version(
            id=deps.ids.new_id(), agent=agent, number=number, document=cmd.agent_blueprint, created_by=who.user_id,
            conversation_id=cmd.conversation_id, now=now, message=cmd.message,
        )  # fmt: skip
        ensure_room(deps.quotas, await uow.usage.of(who.org_id), versions=1, stored_bytes=size)
        await uow.versions.add(version)
        await uow.usage.add(who.org_id, agent.id, versions=1, stored_bytes=size)
        noted = {} if version.message is None else {"message": version.message}
        await record(uow, deps, who, Action.BLUEPRINT_CREATE, agent.id, target_id=version.id, version=version.version,
                     **noted)  # fmt: skip
        await remember(uow, who, key, asked, now, version)
        await uow.commit()
    return version


async def preview_blueprint(deps: Deps, who: Principal, cmd: PreviewBlueprint) -> CompilerOutput:
    """A dry run, for any role: exactly what compiling the document as a new version would record (its prompt, or
    every violation; its warnings), and nothing is written. A document that could not even be saved is refused as a
    save refuses it (InvalidBlueprint). With an agent (of the caller's organization: AgentNotFound otherwise), its
    name is read as compile_version reads it (an imported agent's old row names no identity)."""
    ensure_manage_scope(who)
    agent_name = None
    if cmd.agent_id is not None:
        async with deps.uow(read_only=True) as uow:
            agent_name = (await uow.agents.get(who.org_id, cmd.agent_id)).name
    return rules.preview(cmd.agent_blueprint, agent_name=agent_name)


async def list_versions(deps: Deps, who: Principal, cmd: ListVersions) -> Page[ListedVersion]:
    """Newest first, optionally only those written in one conversation."""
    ensure_manage_scope(who)
    return await _list(deps, who, cmd.agent_id, cmd.limit, cmd.cursor, cmd.documents,
                       conversation_id=cmd.conversation_id)  # fmt: skip


async def list_compiled_versions(deps: Deps, who: Principal, cmd: ListCompiledVersions) -> Page[ListedVersion]:
    """The compiled versions, newest first: the candidates for activation and rollback."""
    ensure_manage_scope(who)
    return await _list(deps, who, cmd.agent_id, cmd.limit, cmd.cursor, cmd.documents,
                       status=CompilationStatus.COMPILED)  # fmt: skip


async def _list(
    deps: Deps,
    who: Principal,
    agent_id: UUID,
    limit: int | None,
    cursor: str | None,
    documents: bool,
    *,
    conversation_id: str | None = None,
    status: CompilationStatus | None = None,
) -> Page[ListedVersion]:
    """Summaries in one round trip (the agent's check included); with documents, a second one reads the whole
    versions of as many of them as MAX_PAGE_BYTES holds, and the next page starts after the last of those."""
    size = checked_limit(limit)
    key = decode_cursor(cursor, VersionKey)
    if conversation_id is not None and NUL in conversation_id:
        raise Malformed("conversation_id", NO_NUL)  # no stored id holds one, and PostgreSQL text cannot
    async with deps.uow(read_only=True) as uow:
        rows = await uow.versions.summaries(
            who.org_id, agent_id, limit=size + 1, before=key.version if key else None,
            conversation_id=conversation_id, status=status,
        )  # fmt: skip
        page = page_of(rows, size, _version_key)
        if not documents:
            return Page(items=[_listed(row) for row in page.items], next_cursor=page.next_cursor)
        kept = _within_bytes(page.items)
        whole = {v.id: v for v in await uow.versions.get_many(agent_id, [row.id for row in kept])}
    next_cursor = page.next_cursor if len(kept) == len(page.items) else encode_cursor(_version_key(kept[-1]))
    return Page(items=[_listed(row, whole[row.id]) for row in kept], next_cursor=next_cursor)


def _listed(row: VersionSummary, whole: BlueprintVersion | None = None) -> ListedVersion:
    return ListedVersion(**msgspec.structs.asdict(row), whole=whole)


def _version_key(row: VersionSummary) -> VersionKey:
    return VersionKey(version=row.version)


def _within_bytes(rows: list[VersionSummary]) -> list[VersionSummary]:
    """The first rows whose documents and prompts add up to MAX_PAGE_BYTES at most, and at least the first."""
    total = 0
    for n, row in enumerate(rows):
        total += row.blueprint_bytes + (row.prompt_bytes or 0)
        if total > MAX_PAGE_BYTES and n > 0:
            return rows[:n]
    return rows


async def get_version(deps: Deps, who: Principal, cmd: GetVersion) -> BlueprintVersion:
    """A version of an agent of the caller's organization, its compilation included; a version of another agent
    is not found."""
    ensure_manage_scope(who)
    async with deps.uow(read_only=True) as uow:
        return await uow.versions.of_agent(who.org_id, cmd.agent_id, cmd.version_id)


async def compile_version(deps: Deps, who: Principal, cmd: CompileVersion) -> CompileReport:
    """Owners and admins compile. A valid document -> `compiled` with its prompt; an invalid one is recorded
    `failed` and then InvalidBlueprint lists every violation. Compiling a compiled version returns the stored
    result. With `activate` (production) or `label`, a successful compile also moves that label to the version, in
    the same transaction."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    label = _label_to_move(cmd)
    async with deps.uow() as uow:
        agent, found = await uow.versions.lock_with_version(who.org_id, cmd.agent_id, cmd.version_id)
        if cmd.activate:
            ensure_unchanged(agent, cmd.if_match)  # before anything is recorded: a stale caller changes nothing
        version = found_version(agent, cmd.version_id, found)
        outcome = rules.compile_version(agent, version, by=who.user_id, now=deps.clock.now())
        compiled = outcome.version
        if outcome.changed:
            await uow.versions.record_compilation(compiled)
            ok = compiled.compilation_status is CompilationStatus.COMPILED
            action = Action.BLUEPRINT_COMPILE if ok else Action.BLUEPRINT_COMPILE_FAILED
            await record(uow, deps, who, action, agent.id, target_id=compiled.id, version=compiled.version,
                         compiler_version=compiled.compiler_version)  # fmt: skip
        if compiled.compilation_status is CompilationStatus.FAILED:
            await uow.commit()  # the failure is recorded, then reported
            raise InvalidBlueprint(compiled.compile_errors or [])
        if label is not None:
            label_match = None if cmd.activate else cmd.if_match
            agent, _ = await move_label(uow, deps, who, agent, label, compiled, label_match)
        await uow.commit()
    deps.live.agent_changed(agent.id)  # this process reads its own write; the others hear migration 0007's notice
    message = "compiled" if outcome.changed else "already compiled; the stored result stands"
    if label == PRODUCTION:
        message += "; active"
    elif label is not None:
        message += f"; {label!r} points at it"
    return CompileReport(blueprint=compiled, warnings=outcome.warnings, agent=agent, message=message, label=label)


def _label_to_move(cmd: CompileVersion) -> str | None:
    if cmd.label is None:
        return PRODUCTION if cmd.activate else None
    name = checked_name(cmd.label, writing=True, field="label")
    if cmd.activate and name != PRODUCTION:
        raise Malformed("label", "activate=true moves production; ask for one label, not two")
    return name


async def activate_version(deps: Deps, who: Principal, cmd: ActivateVersion) -> Agent:
    """Owners and admins make a compiled version live (VersionNotCompiled otherwise): production moves to it;
    activating an older compiled version is the rollback."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    async with deps.uow() as uow:
        agent, found = await uow.versions.lock_with_version(who.org_id, cmd.agent_id, cmd.version_id)
        ensure_unchanged(agent, cmd.if_match)
        version = found_version(agent, cmd.version_id, found)
        agent, _ = await move_label(uow, deps, who, agent, PRODUCTION, version)
        await uow.commit()
    deps.live.agent_changed(agent.id)
    return agent


async def get_live_prompt(deps: Deps, who: Principal, cmd: GetLivePrompt) -> LivePrompt:
    """The compiled prompt a label (production: the active version) of an active agent points at; NoLivePrompt when
    the agent is switched off or deleted, or the label is unknown (an agent of another organization is not found
    either way). Served from memory when the live cache holds it (see application/live_cache.py), else one indexed
    query."""
    label = checked_name(cmd.label, writing=False)
    cached = deps.live.prompt(who.org_id, cmd.agent_id, label)
    if cached is not None:
        return cached
    key = (who.org_id, cmd.agent_id, label)
    return await deps.live.prompt_reads.share(key, lambda: _read_live_prompt(deps, who, cmd.agent_id, label))


async def _read_live_prompt(deps: Deps, who: Principal, agent_id: UUID, label: str) -> LivePrompt:
    ticket = deps.live.ticket()
    async with deps.uow(read_only=True) as uow:
        live = await uow.versions.live_prompt(who.org_id, agent_id, label)
        if live is None:
            await uow.agents.get(who.org_id, agent_id)  # AgentNotFound for an unknown or foreign agent
            raise NoLivePrompt(agent_id, label)
    deps.live.keep_prompt(ticket, who.org_id, live)
    return live


async def watch_live_prompt(
    deps: Deps, who: Principal, cmd: WatchLivePrompt, unchanged: Callable[[LivePrompt], bool]
) -> LivePrompt:
    """`get_live_prompt`, held while `unchanged` (the caller's copy is current) for up to `wait_s` seconds: answered
    as soon as the label moves or the agent stops serving (NoLivePrompt), in this process or any other, and with the
    unchanged prompt at the timeout. Answered at once when this process does not follow changes now (the feed is
    down) or holds its maximum of watches (LiveCache.max_watchers). A key that expires sooner is held until then."""
    if not 0 < cmd.wait_s <= MAX_WAIT_S:
        raise Malformed("wait", f"seconds, more than 0 and at most {MAX_WAIT_S}")
    loop = asyncio.get_running_loop()
    wait_s = cmd.wait_s
    if who.expires_at is not None:  # a key is not held past its expiry: its next request is refused
        wait_s = min(wait_s, (who.expires_at - deps.clock.now()).total_seconds())
    deadline = loop.time() + wait_s
    fetch = GetLivePrompt(agent_id=cmd.agent_id, label=cmd.label)
    while True:
        changed = deps.live.watch(cmd.agent_id)  # before the read: a change after it wakes this watch
        try:
            live = await get_live_prompt(deps, who, fetch)
            remaining = deadline - loop.time()
            if changed is None or remaining <= 0 or not unchanged(live):
                return live
            await asyncio.wait({changed}, timeout=remaining)
            if not changed.done():
                return live  # the caller's copy is still current
        finally:
            if changed is not None:
                deps.live.unwatch(cmd.agent_id, changed)


def live_prompt_from_memory(deps: Deps, secret: str, cmd: GetLivePrompt) -> LivePrompt | None:
    """`get_live_prompt` for the token `secret`, when the live cache holds both its principal and the prompt; else
    None, and `authenticate` with `get_live_prompt` answer (errors included). No IO and no await: the HTTP hot path
    asks this before any framework work. `cmd.label` must be a well-formed name (the hot path checks it)."""
    held = _held_in_memory(deps, secret, cmd.agent_id, cmd.label)
    return None if held is None else held[1]


async def watch_live_prompt_from_memory(
    deps: Deps, secret: str, cmd: WatchLivePrompt, unchanged: Callable[[LivePrompt], bool]
) -> LivePrompt | None:
    """`watch_live_prompt` for the token `secret`, when the live cache holds its principal and the prompt now; else
    None at once, and `authenticate` with `watch_live_prompt` answer. The HTTP hot path holds watches with this."""
    held = _held_in_memory(deps, secret, cmd.agent_id, cmd.label)
    return None if held is None else await watch_live_prompt(deps, held[0], cmd, unchanged)


def _held_in_memory(deps: Deps, secret: str, agent_id: UUID, label: str) -> tuple[Principal, LivePrompt] | None:
    """The token's principal and the label's prompt, when the live cache holds both; no IO."""
    who = cached_principal(deps, secret)
    live = None if who is None else deps.live.prompt(who.org_id, agent_id, label, count_miss=False)
    return None if who is None or live is None else (who, live)


async def get_compilation_stats(deps: Deps, who: Principal, cmd: GetCompilationStats) -> CompilationStats:
    """Counts over the caller's organization only; deleted agents are not counted."""
    ensure_manage_scope(who)
    async with deps.uow(read_only=True) as uow:
        return await uow.versions.stats(who.org_id)
