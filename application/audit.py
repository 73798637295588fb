"""The audit trail: how use cases write it, and who may read it."""

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from application.deps import Deps
from application.pagination import AuditKey, Page, checked_limit, decode_cursor, page_of
from application.ports import UnitOfWork
from domain.agents import MAX_NAME, NUL
from domain.audit import Action, AuditEvent
from domain.errors import Malformed
from domain.roles import Principal, ensure_can_manage, ensure_manage_scope
from domain.webhooks import event_of

MAX_ACTOR: Final = MAX_NAME  # a token's user id, as agent_audit_events.actor (VARCHAR(255)) holds it


async def record(
    uow: UnitOfWork, deps: Deps, who: Principal, action: Action, agent_id: UUID, *, target_id: UUID | None = None,
    **details: Any,
) -> None:  # fmt: skip
    """Writes one event about the agent through the caller's unit of work, so it commits or rolls back with the
    change. `target_id` is the version changed, for an event of one of the agent's versions; the agent otherwise.
    An event that is a webhook event (domain/webhooks.py) is queued for the organization's endpoints there too."""
    event = AuditEvent(
        id=deps.ids.new_id(),
        org_id=who.org_id,
        actor=who.user_id,
        action=action,
        target_id=agent_id if target_id is None else target_id,
        agent_id=agent_id,
        occurred_at=deps.clock.now(),
        details=details,
    )
    await uow.audit.record(event)
    outgoing = event_of(event)
    if outgoing is not None:
        await uow.webhooks.enqueue(outgoing, now=event.occurred_at)


class ListAuditEvents(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID | None = None  # its versions' and labels' events included
    action: str | None = None  # one of Action's values
    actor: str | None = None  # a user id, exactly
    since: datetime | None = None  # at or after (with a time zone)
    until: datetime | None = None  # before (with a time zone)
    limit: int | None = None
    cursor: str | None = None


class ListAgentAuditEvents(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    limit: int | None = None
    cursor: str | None = None


def _key(event: AuditEvent) -> AuditKey:
    return AuditKey(occurred_at=event.occurred_at, id=event.id)


def _checked_action(action: str | None) -> Action | None:
    if action is None:
        return None
    try:
        return Action(action)
    except ValueError:
        raise Malformed("action", f"one of {', '.join(Action)}") from None


def _checked_actor(actor: str | None) -> str | None:
    if actor is not None and (not 1 <= len(actor) <= MAX_ACTOR or NUL in actor):
        raise Malformed("actor", f"a user id: 1 to {MAX_ACTOR} characters, no NUL character")
    return actor


def _checked_time(field: str, moment: datetime | None) -> datetime | None:
    if moment is not None and moment.utcoffset() is None:
        raise Malformed(field, "needs a time zone: 2026-01-01T00:00:00Z or …+01:00")
    return moment


async def list_audit_events(deps: Deps, who: Principal, cmd: ListAuditEvents) -> Page[AuditEvent]:
    """Owners and admins read their organization's trail, newest first, filtered by agent (its versions' and labels'
    events included), action, actor and time (`since` inclusive, `until` exclusive); every filter given must hold."""
    ensure_manage_scope(who)
    ensure_can_manage(who)
    limit = checked_limit(cmd.limit)
    after = decode_cursor(cmd.cursor, AuditKey)
    action, actor = _checked_action(cmd.action), _checked_actor(cmd.actor)
    since, until = _checked_time("since", cmd.since), _checked_time("until", cmd.until)
    if since is not None and until is not None and since > until:
        raise Malformed("since", "must not be after until")
    async with deps.uow(read_only=True) as uow:
        rows = await uow.audit.page(
            who.org_id, limit=limit + 1, after=after, agent_id=cmd.agent_id, action=action, actor=actor, since=since,
            until=until,
        )  # fmt: skip
    return page_of(rows, limit, _key)


async def list_agent_audit_events(deps: Deps, who: Principal, cmd: ListAgentAuditEvents) -> Page[AuditEvent]:
    """Anyone of the organization reads one agent's history (a deleted agent's too), its versions' and labels' events
    included, newest first; another organization's agent does not exist (AgentNotFound)."""
    ensure_manage_scope(who)
    limit = checked_limit(cmd.limit)
    after = decode_cursor(cmd.cursor, AuditKey)
    async with deps.uow(read_only=True) as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        rows = await uow.audit.page(who.org_id, limit=limit + 1, after=after, agent_id=agent.id)
    return page_of(rows, limit, _key)
