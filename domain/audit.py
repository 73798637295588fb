"""The audit trail: one event per state change, written in the same transaction as the change."""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import msgspec


class Action(StrEnum):
    AGENT_CREATE = "agent.create"
    AGENT_UPDATE = "agent.update"
    AGENT_ACTIVATE = "agent.activate"
    AGENT_DEACTIVATE = "agent.deactivate"
    AGENT_DELETE = "agent.delete"
    AGENT_IMPORT = "agent.import"  # written by migration 0005 for each agent of the old system's table
    BLUEPRINT_CREATE = "blueprint.create"
    BLUEPRINT_COMPILE = "blueprint.compile"
    BLUEPRINT_COMPILE_FAILED = "blueprint.compile_failed"
    BLUEPRINT_ACTIVATE = "blueprint.activate"  # written before labels (migration 0009): a move of production now
    LABEL_MOVE = "label.move"  # production's too, whichever route moved it
    LABEL_DELETE = "label.delete"
    LABEL_PROTECT = "label.protect"
    TOKEN_CREATE = "token.create"  # noqa: S105 - target: the token
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    WEBHOOK_CREATE = "webhook.create"  # target: the endpoint
    WEBHOOK_UPDATE = "webhook.update"
    WEBHOOK_DELETE = "webhook.delete"
    WEBHOOK_ROTATE = "webhook.rotate_secret"
    WEBHOOK_DISABLE = "webhook.disable"  # by the service, after DISABLE_AFTER of failures (actor "org-agents")


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    org_id: UUID
    actor: str  # the user id of the token that made the change
    action: Action
    target_id: UUID  # the agent (also for its labels), the blueprint version, the token or the webhook changed
    occurred_at: datetime
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_id: UUID | None = (
        None  # the agent it is about (the target, or the version's agent); None for tokens, webhooks
    )
