"""Release labels: named pointers from an agent to one of its compiled versions (`production`, `staging`, …).

`production` is the agent's active version (`Agent.current_blueprint_id`, the seed's column), so it is not stored as
a label of its own: activating a version moves production. `latest` is the newest compiled version, read-only. Every
other label is created by its first move. A move is kept in the label's history; rolling back is a move.
"""

import re
from datetime import datetime
from typing import Final
from uuid import UUID

import msgspec

from domain.agents import Agent, ensure_live
from domain.blueprints import BlueprintVersion, CompilationStatus
from domain.errors import (
    InvalidLabel,
    LabelChanged,
    ProductionAlwaysProtected,
    ProductionUndeletable,
    RoleTooLow,
    VersionNotCompiled,
)
from domain.roles import MANAGERS, Principal

PRODUCTION: Final = "production"
LATEST: Final = "latest"
NAME_PATTERN: Final = "^[a-z0-9][a-z0-9._-]{0,35}$"
_NAME: Final = re.compile(NAME_PATTERN)
MAX_NAME: Final = 36


class Label(msgspec.Struct, frozen=True, kw_only=True):
    """Where a label points now. `moved_at`/`moved_by` are None for a production set before labels existed (an
    imported agent, an UPDATE from psql) and for `latest` before anything compiled."""

    agent_id: UUID
    name: str
    blueprint_id: UUID
    version: int
    protected: bool
    moved_at: datetime | None = None
    moved_by: str | None = None
    read_only: bool = False  # `latest`: it follows compilation and is never moved


class LabelMove(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a label's history: numbered 1, 2, 3 … per label, newest last. A deletion points nowhere."""

    agent_id: UUID
    name: str
    seq: int
    blueprint_id: UUID | None  # None: the label was deleted
    version: int | None
    previous_blueprint_id: UUID | None  # None: the label was new
    previous_version: int | None
    moved_by: str
    moved_at: datetime


def checked_name(name: str, *, writing: bool, field: str = "name") -> str:
    """A label's name: 1 to 36 of a-z, 0-9, '.', '_', '-', starting with a letter or digit. `latest` is read-only, so
    a write naming it is refused as invalid too. `field`: where the caller wrote the name, as a violation names it."""
    if not _NAME.fullmatch(name):
        raise InvalidLabel(
            name, "1 to 36 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", field=field
        )
    if writing and name == LATEST:
        raise InvalidLabel(
            name, "'latest' is reserved: it is always the newest compiled version and cannot be moved", field=field
        )
    return name


def is_protected(name: str, stored: Label | None) -> bool:
    return name == PRODUCTION or (stored is not None and stored.protected)


def ensure_may_change(who: Principal, name: str, stored: Label | None) -> None:
    """Protected labels (production always) are moved and deleted by owners and admins only; any other label by any
    role that may write. The rule is here, so it binds every caller: a token with write access is no exception."""
    if is_protected(name, stored) and who.role not in MANAGERS:
        raise RoleTooLow(who.role.value, f"owner or admin: label {name!r} is protected")


def ensure_current(name: str, stored: Label | None, if_match: frozenset[str] | None, *, only_new: bool = False) -> None:
    """No lost moves: an If-Match names the version the caller saw the label at ("*": it exists at all); `only_new`
    (If-None-Match: *) asks that it not exist yet, so two people creating one label cannot both win."""
    current = None if stored is None else str(stored.blueprint_id)
    if only_new and current is not None:
        raise LabelChanged(name, current)
    if if_match is None:
        return
    if current is None or ("*" not in if_match and current not in if_match):
        raise LabelChanged(name, current)


def move(agent: Agent, name: str, stored: Label | None, version: BlueprintVersion, *, by: str, now: datetime) -> Label:
    """The label moved to `version`, which must be a compiled version of a live agent's own; the label as it was
    (`stored` itself) when it already points there: nothing changes, nothing is recorded."""
    ensure_live(agent)
    if version.agent_id != agent.id:  # callers load versions through their agent; this is a programming error
        raise ValueError(f"version {version.id} belongs to agent {version.agent_id}, not {agent.id}")
    if version.compilation_status is not CompilationStatus.COMPILED:
        raise VersionNotCompiled(version.id, version.compilation_status.value)
    if stored is not None and stored.blueprint_id == version.id:
        return stored
    return Label(
        agent_id=agent.id,
        name=name,
        blueprint_id=version.id,
        version=version.version,
        protected=is_protected(name, stored),
        moved_at=now,
        moved_by=by,
    )


def ensure_deletable(agent: Agent, name: str) -> None:
    ensure_live(agent)
    if name == PRODUCTION:
        raise ProductionUndeletable(agent.id)


def protect(agent: Agent, stored: Label, protected: bool) -> Label | None:
    """The label marked (un)protected; None when it already is so. Production is always protected."""
    ensure_live(agent)
    if stored.name == PRODUCTION and not protected:
        raise ProductionAlwaysProtected(agent.id)
    if stored.protected is protected:
        return None
    return msgspec.structs.replace(stored, protected=protected)


def history_entry(stored: Label | None, moved: Label | None, *, name: str, agent_id: UUID, seq: int, by: str,
                  now: datetime) -> LabelMove:  # fmt: skip
    """What a move (or, with `moved` None, a deletion) adds to the label's history."""
    return LabelMove(
        agent_id=agent_id,
        name=name,
        seq=seq,
        blueprint_id=None if moved is None else moved.blueprint_id,
        version=None if moved is None else moved.version,
        previous_blueprint_id=None if stored is None else stored.blueprint_id,
        previous_version=None if stored is None else stored.version,
        moved_by=by,
        moved_at=now,
    )
