"""The audit trail over HTTP: the organization's activity (owners and admins), one agent's history (anyone of the
organization). The rules are in application/audit.py."""

from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath, Parameter

from application.audit import (
    MAX_ACTOR,
    ListAgentAuditEvents,
    ListAuditEvents,
    list_agent_audit_events,
    list_audit_events,
)
from application.deps import Deps
from domain.audit import Action
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.params import Cursor, Limit, answer_options, ensure_rfc3339, ensure_single
from entrypoints.http.schemas import NO_NUL, AuditEventPage, to_out

FILTERS: Final = ("agent_id", "action", "actor", "since", "until")  # each names one value: refused when repeated
TIMES: Final = ("since", "until")

AgentFilter = Annotated[
    UUID | None,
    Parameter(description="only events about this agent: its own, its versions' and its labels'",
              examples=[Example(value="0b9e3b8e-7a57-4c1f-9a0e-5d1f2f6c9a11")]),
]  # fmt: skip
ActionFilter = Annotated[
    str | None,
    Parameter(description="only events of this action (label.move: a label was moved, rolled back or promoted)",
              schema_extra={"enum": [action.value for action in Action]}, examples=[Example(value="label.move")]),
]  # fmt: skip
ActorFilter = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_ACTOR, description="only events made by this user id (exactly)",
              examples=[Example(value="ana")], schema_extra=NO_NUL),
]  # fmt: skip
Since = Annotated[
    datetime | None,
    Parameter(description="only events at or after this time (RFC 3339, with a time zone)",
              examples=[Example(value="2026-03-09T00:00:00Z")]),
]  # fmt: skip
Until = Annotated[
    datetime | None,
    Parameter(description="only events before this time (RFC 3339, with a time zone; not before `since`)",
              examples=[Example(value="2026-03-10T00:00:00Z")]),
]  # fmt: skip


class AuditController(Controller):
    path = "/org-agents"
    before_request = staticmethod(answer_options)
    tags = ("audit",)

    @get("/audit-events", operation_id="listAuditEvents", responses=PROBLEMS)
    async def list_audit_events(
        self,
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        agent_id: AgentFilter = None,
        action: ActionFilter = None,
        actor: ActorFilter = None,
        since: Since = None,
        until: Until = None,
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> AuditEventPage:
        """The organization's activity, newest first: who did what to which agent, version, label or token, and
        when, with what changed (`details`: an update's `before` and `after`, a label move's `version` and
        `previous_version`). Every filter given must hold. Owners and admins."""
        for name in FILTERS:
            ensure_single(request, name)
        for name in TIMES:
            ensure_rfc3339(request, name)
        page = await list_audit_events(
            deps, principal,
            ListAuditEvents(agent_id=agent_id, action=action, actor=actor, since=since, until=until, limit=limit,
                            cursor=cursor),
        )  # fmt: skip
        return to_out(page, AuditEventPage)

    @get("/{agent_id:uuid}/audit-events", operation_id="listAgentAuditEvents", responses=PROBLEMS)
    async def list_agent_audit_events(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> AuditEventPage:
        """One agent's history, newest first: its own changes and its versions' and labels' (a deleted agent's
        too). Any role."""
        page = await list_agent_audit_events(
            deps, principal, ListAgentAuditEvents(agent_id=agent_id, limit=limit, cursor=cursor)
        )
        return to_out(page, AuditEventPage)
