"""Who may do what: the caller's role inside its organization, and the scope of the key it holds."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

import msgspec

from domain.errors import RoleTooLow, ScopeTooNarrow


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Scope(StrEnum):
    """What a key may be used for, whatever its role allows."""

    MANAGE = "manage"  # everything the role allows
    PROMPT = "prompt"  # only the live prompt (with or without a watch) and /whoami: the key to give an LLM runtime


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller: every request and every use case acts as one."""

    org_id: UUID
    user_id: str
    role: Role
    scope: Scope = Scope.MANAGE
    token_id: UUID | None = None  # None: not one of our tokens (a JWT of the identity provider)
    expires_at: datetime | None = None  # refused from then on, on every path, with no notice needed


def ensure_manage_scope(who: Principal) -> None:
    """Every use case but the live prompt's and `whoami` starts with this: a `prompt` key reads prompts only."""
    if who.scope is not Scope.MANAGE:
        raise ScopeTooNarrow(who.scope.value)


def expired(who: Principal, now: datetime) -> bool:
    return who.expires_at is not None and who.expires_at <= now


MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


def ensure_can_manage(who: Principal) -> None:
    """Owners and admins change agents and compile or activate versions; members only read and draft."""
    if who.role not in MANAGERS:
        raise RoleTooLow(who.role.value, "owner or admin")
