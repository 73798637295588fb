"""Who may do what: the caller's role inside its organization."""

from enum import StrEnum
from uuid import UUID

import msgspec

from domain.errors import RoleTooLow


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller: every request and every use case acts as one."""

    org_id: UUID
    user_id: str
    role: Role


MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


def ensure_can_manage(who: Principal) -> None:
    """Owners and admins change agents and compile or activate versions; members only read and draft."""
    if who.role not in MANAGERS:
        raise RoleTooLow(who.role.value, "owner or admin")
