"""Agents: an organization's AI agent, its lifecycle status, and the changes a person may make to it."""

import hashlib
from collections.abc import Collection
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final
from uuid import UUID

import msgspec

from domain.errors import AgentChanged, AgentDeleted, InvalidAgent, Violation

MAX_NAME: Final = 255
MAX_DESCRIPTION: Final = 10_000
NUL: Final = "\x00"  # PostgreSQL text cannot hold U+0000: refused here rather than failing in storage
NO_NUL: Final = "must not contain the NUL character (U+0000)"


class AgentStatus(StrEnum):
    """The seed's words: `deactive` is switched off, `delete` is a soft delete (readable, frozen)."""

    ACTIVE = "active"
    DEACTIVE = "deactive"
    DELETE = "delete"


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    org_id: UUID
    name: str
    description: str | None
    status: AgentStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    current_blueprint_id: UUID | None = None  # the active version, or None
    # The seed's small integer id, assigned by storage when the agent is first stored; `agent_id` in the seed's
    # column, on the wire and in stored JSON, where every other `agent_id` is an agent's UUID.
    number: int | None = msgspec.field(default=None, name="agent_id")


def _name_violations(name: str) -> list[Violation]:
    if not name.strip():
        return [Violation(field="name", message="required, non-blank")]
    if len(name) > MAX_NAME:
        return [Violation(field="name", message=f"at most {MAX_NAME} characters")]
    if NUL in name:
        return [Violation(field="name", message=NO_NUL)]
    return []


def _description_violations(description: str | None) -> list[Violation]:
    if description is not None and len(description) > MAX_DESCRIPTION:
        return [Violation(field="description", message=f"at most {MAX_DESCRIPTION} characters")]
    if description is not None and NUL in description:
        return [Violation(field="description", message=NO_NUL)]
    return []


def _checked(name: str, description: str | None) -> tuple[str, str | None]:
    name = name.strip()
    violations = _name_violations(name) + _description_violations(description)
    if violations:
        raise InvalidAgent(violations)
    return name, description


def new_agent(*, id: UUID, org_id: UUID, name: str, description: str | None, created_by: str, now: datetime) -> Agent:
    """A new agent is active and has no blueprint yet; its name is trimmed and must be 1..255 characters."""
    name, description = _checked(name, description)
    return Agent(
        id=id,
        org_id=org_id,
        name=name,
        description=description,
        status=AgentStatus.ACTIVE,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )


def ensure_live(agent: Agent) -> None:
    """A deleted agent stays readable but accepts no change at all."""
    if agent.status is AgentStatus.DELETE:
        raise AgentDeleted(agent.id)


def update_agent(
    agent: Agent,
    *,
    name: str | None = None,
    description: str | None = None,
    clear_description: bool = False,
    status: AgentStatus | None = None,
    now: datetime,
) -> Agent:
    """Changes the given fields; an update that changes nothing returns the agent as it was (no new updated_at)."""
    ensure_live(agent)
    new_name, new_description = _checked(
        agent.name if name is None else name,
        None if clear_description else (agent.description if description is None else description),
    )
    new_status = agent.status if status is None else status
    if (new_name, new_description, new_status) == (agent.name, agent.description, agent.status):
        return agent
    return msgspec.structs.replace(agent, name=new_name, description=new_description, status=new_status, updated_at=now)


def set_status(agent: Agent, status: AgentStatus, *, now: datetime) -> Agent:
    """(De)activation and soft delete; setting the status an agent already has changes nothing (so deleting twice
    is not an error), any other change of a deleted agent is refused."""
    if agent.status is status:
        return agent
    ensure_live(agent)
    return msgspec.structs.replace(agent, status=status, updated_at=now)


def agent_etag(agent: Agent) -> str:
    """A strong validator of everything a client sees change on an agent: equal state, equal tag (on any adapter,
    in any time zone); any change, a new tag."""
    state = (agent.id, agent.name, agent.description, agent.status, agent.current_blueprint_id,
             agent.updated_at.astimezone(UTC))  # fmt: skip
    return hashlib.sha256(msgspec.json.encode(state)).hexdigest()[:32]


def ensure_unchanged(agent: Agent, if_match: Collection[str] | None) -> None:
    """No lost updates: a writer that read the agent as `if_match` (its ETags; "*" for any) may only change it while
    it is still so. No condition, no check."""
    if if_match is None or "*" in if_match:
        return
    current = agent_etag(agent)
    if current not in if_match:
        raise AgentChanged(agent.id, current)
