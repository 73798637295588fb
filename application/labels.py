"""Use cases for release labels: list, read, move (promote, roll back), protect, delete, and a label's history.

Production is the agent's active version: moving it here, activating a version and `compile?activate=true` are one
operation (`move_label`), recorded the same way. The rules are in domain/labels.py.
"""

from datetime import datetime
from uuid import UUID

import msgspec

from application.audit import record
from application.deps import Deps
from application.pagination import Page, checked_limit, decode_cursor, page_of
from application.ports import UnitOfWork
from domain import labels as rules
from domain.agents import Agent
from domain.audit import Action
from domain.blueprints import BlueprintVersion, CompilationStatus, activate
from domain.errors import BlueprintNotFound, LabelNotFound
from domain.labels import LATEST, PRODUCTION, Label, LabelMove
from domain.roles import Principal, ensure_can_manage, ensure_manage_scope


class ListLabels(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID


class GetLabel(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    name: str


class MoveLabel(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    blueprint_id: UUID
    if_match: frozenset[str] | None = None  # the version ids the caller saw the label at; "*": it exists
    only_new: bool = False  # If-None-Match: *: refused (LabelChanged) when the label exists already


class ProtectLabel(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    protected: bool


class DeleteLabel(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    if_match: frozenset[str] | None = None


class LabelHistory(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    limit: int | None = None
    cursor: str | None = None


class MoveKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A position in a label's history (newest first): the number of the last entry of a page."""

    seq: int


async def list_labels(deps: Deps, who: Principal, cmd: ListLabels) -> list[Label]:
    """Production (when something is live), `latest` (when something compiled), then the others by name."""
    ensure_manage_scope(who)
    async with deps.uow(read_only=True) as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        last = await uow.labels.last_moves(agent.id)
        derived = [await _production(uow, agent, last), await _latest(uow, agent)]
        stored = await uow.labels.all(agent.id)
    return [label for label in derived if label is not None] + stored


async def get_label(deps: Deps, who: Principal, cmd: GetLabel) -> Label:
    ensure_manage_scope(who)
    name = rules.checked_name(cmd.name, writing=False)
    async with deps.uow(read_only=True) as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        label = await _current(uow, agent, name)
    if label is None:
        raise LabelNotFound(agent.id, name)
    return label


def found_version(agent: Agent, version_id: UUID, version: BlueprintVersion | None) -> BlueprintVersion:
    """What `lock_with_version` read, when it is one of the agent's versions; BlueprintNotFound otherwise."""
    if version is None:
        raise BlueprintNotFound(agent.id, version_id)
    return version


async def move_label_to(deps: Deps, who: Principal, cmd: MoveLabel) -> Label:
    """Points the label at a compiled version of the agent, creating it on its first move; moving it back is the
    rollback. Protected labels (production always) by owners and admins only. Production is the active version."""
    ensure_manage_scope(who)
    name = rules.checked_name(cmd.name, writing=True)
    async with deps.uow() as uow:
        agent, found = await uow.versions.lock_with_version(who.org_id, cmd.agent_id, cmd.blueprint_id)
        version = found_version(agent, cmd.blueprint_id, found)
        agent, label = await move_label(uow, deps, who, agent, name, version, cmd.if_match, only_new=cmd.only_new)
        await uow.commit()
    deps.live.agent_changed(agent.id)  # this process reads its own write; the others hear migration 0009's notice
    return label


async def move_label(
    uow: UnitOfWork,
    deps: Deps,
    who: Principal,
    agent: Agent,
    name: str,
    version: BlueprintVersion,
    if_match: frozenset[str] | None = None,
    *,
    only_new: bool = False,
) -> tuple[Agent, Label]:
    """The move itself, in the caller's unit of work, the agent held: the agent (production moved: its active version
    changed) and the label as it now stands. Nothing is recorded when the label already points at `version`."""
    ensure_manage_scope(who)
    last = await uow.labels.last_moves(agent.id)
    stored = await _production(uow, agent, last) if name == PRODUCTION else await uow.labels.get(agent.id, name)
    rules.ensure_may_change(who, name, stored)
    rules.ensure_current(name, stored, if_match, only_new=only_new)
    now = deps.clock.now()
    moved = rules.move(agent, name, stored, version, by=who.user_id, now=now)
    if moved is stored:
        return agent, moved
    if name == PRODUCTION:
        agent = activate(agent, version, now=now)
        await uow.agents.update(agent)
    else:
        await uow.labels.put(moved)
    await _add_move(uow, deps, who, agent, name, stored, moved, last, now)
    return agent, moved


async def protect_label(deps: Deps, who: Principal, cmd: ProtectLabel) -> Label:
    """Owners and admins mark a label protected (then only they move or delete it) or unprotected again."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    name = rules.checked_name(cmd.name, writing=True)
    async with deps.uow() as uow:
        agent = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        stored = await _current(uow, agent, name)
        if stored is None:
            raise LabelNotFound(agent.id, name)
        changed = rules.protect(agent, stored, cmd.protected)
        if changed is None:
            return stored
        await uow.labels.put(changed)
        await record(uow, deps, who, Action.LABEL_PROTECT, agent.id, label=name, protected=cmd.protected)
        await uow.commit()
    return changed


async def delete_label(deps: Deps, who: Principal, cmd: DeleteLabel) -> None:
    """Removes a label (its history stays, ending with the deletion); production cannot be deleted."""
    ensure_manage_scope(who)
    name = rules.checked_name(cmd.name, writing=True)
    async with deps.uow() as uow:
        agent = await uow.agents.get_for_update(who.org_id, cmd.agent_id)
        rules.ensure_deletable(agent, name)
        stored = await uow.labels.get(agent.id, name)
        if stored is None:
            raise LabelNotFound(agent.id, name)
        rules.ensure_may_change(who, name, stored)
        rules.ensure_current(name, stored, cmd.if_match)
        await uow.labels.delete(agent.id, name)
        await _add_move(uow, deps, who, agent, name, stored, None, await uow.labels.last_moves(agent.id),
                        deps.clock.now())  # fmt: skip
        await uow.commit()
    deps.live.agent_changed(agent.id)


async def label_history(deps: Deps, who: Principal, cmd: LabelHistory) -> Page[LabelMove]:
    """Every move of the label, newest first, deletions included; also of a label deleted since."""
    ensure_manage_scope(who)
    name = rules.checked_name(cmd.name, writing=True)
    size = checked_limit(cmd.limit)
    key = decode_cursor(cmd.cursor, MoveKey)
    async with deps.uow(read_only=True) as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        rows = await uow.labels.history(agent.id, name, limit=size + 1, before=key.seq if key else None)
        if not rows and key is None and await _current(uow, agent, name) is None:
            raise LabelNotFound(agent.id, name)
    return page_of(rows, size, lambda move: MoveKey(seq=move.seq))


async def _current(uow: UnitOfWork, agent: Agent, name: str) -> Label | None:
    if name == PRODUCTION:
        return await _production(uow, agent, await uow.labels.last_moves(agent.id))
    if name == LATEST:
        return await _latest(uow, agent)
    return await uow.labels.get(agent.id, name)


async def _production(uow: UnitOfWork, agent: Agent, last: dict[str, LabelMove]) -> Label | None:
    """The active version as a label. Its last move is known when the service made it (not for an agent imported or
    changed from psql)."""
    if agent.current_blueprint_id is None:
        return None
    version = await uow.versions.get(agent.id, agent.current_blueprint_id)
    move = last.get(PRODUCTION)
    known = move is not None and move.blueprint_id == version.id
    return Label(
        agent_id=agent.id, name=PRODUCTION, blueprint_id=version.id, version=version.version, protected=True,
        moved_at=move.moved_at if known and move else None, moved_by=move.moved_by if known and move else None,
    )  # fmt: skip


async def _latest(uow: UnitOfWork, agent: Agent) -> Label | None:
    version = await uow.versions.latest(agent.id, status=CompilationStatus.COMPILED)
    if version is None:
        return None
    return Label(
        agent_id=agent.id, name=LATEST, blueprint_id=version.id, version=version.version, protected=True,
        moved_at=version.compiled_at, moved_by=version.compiled_by, read_only=True,
    )  # fmt: skip


async def _add_move(
    uow: UnitOfWork,
    deps: Deps,
    who: Principal,
    agent: Agent,
    name: str,
    stored: Label | None,
    moved: Label | None,
    last: dict[str, LabelMove],
    now: datetime,
) -> None:
    previous = last.get(name)
    entry = rules.history_entry(stored, moved, name=name, agent_id=agent.id, seq=1 + (previous.seq if previous else 0),
                                by=who.user_id, now=now)  # fmt: skip
    await uow.labels.add_move(entry)
    details = {
        "label": name,
        "blueprint_id": None if entry.blueprint_id is None else str(entry.blueprint_id),
        "version": entry.version,
        "previous_blueprint_id": None if entry.previous_blueprint_id is None else str(entry.previous_blueprint_id),
        "previous_version": entry.previous_version,
    }
    action = Action.LABEL_MOVE if moved else Action.LABEL_DELETE
    await record(uow, deps, who, action, agent.id, target_id=agent.id, **details)  # a label's events are its agent's
