"""The audit trail: how use cases write it, and who may read it."""

from typing import Any
from uuid import UUID

import msgspec

from application.deps import Deps
from application.ports import UnitOfWork
from domain.audit import Action, AuditEvent
from domain.roles import Principal, ensure_can_manage


async def record(uow: UnitOfWork, deps: Deps, who: Principal, action: Action, target_id: UUID, **details: Any) -> None:
    """Writes one event through the caller's unit of work, so it commits or rolls back with the change."""
    await uow.audit.record(
        AuditEvent(
            id=deps.ids.new_id(),
            org_id=who.org_id,
            actor=who.user_id,
            action=action,
            target_id=target_id,
            occurred_at=deps.clock.now(),
            details=details,
        )
    )


class ListAuditEvents(msgspec.Struct, frozen=True, kw_only=True):
    target_id: UUID | None = None  # one agent or version; None: the whole organization


async def list_audit_events(deps: Deps, who: Principal, cmd: ListAuditEvents) -> list[AuditEvent]:
    """Owners and admins read their organization's trail, oldest first, optionally for one agent or version."""
    ensure_can_manage(who)
    async with deps.uow() as uow:
        return await uow.audit.events(who.org_id, target_id=cmd.target_id)
