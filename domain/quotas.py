"""Quotas: how much one organization may store (agents, versions, bytes of blueprint documents), and the rule."""

from typing import Final

import msgspec

from domain.errors import QuotaExceeded

MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB


class Quotas(msgspec.Struct, frozen=True, kw_only=True):
    """Generous by default: they bound what one organization (its lowest role included) can make the service
    store, not what a real one needs."""

    agents: int = 10_000  # agents not deleted: deleting one frees its place
    versions: int = 1_000_000  # every version ever written (versions are immutable and kept)
    stored_bytes: int = 10 * GIB  # the blueprint documents of those versions (`document_bytes`)


DEFAULT_QUOTAS: Final = Quotas()


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """What an organization holds, counted as Quotas count it."""

    agents: int = 0
    versions: int = 0
    stored_bytes: int = 0


def document_bytes(document: object) -> int:
    """What a blueprint document counts against `stored_bytes`: the length of its compact JSON."""
    return len(msgspec.json.encode(document))


def ensure_room(quotas: Quotas, usage: Usage, *, agents: int = 0, versions: int = 0, stored_bytes: int = 0) -> None:
    """Raises QuotaExceeded (the first quota, in field order) when adding this much would take the organization past
    a quota. Only what grows is checked: an organization over a lowered quota of agents may still add versions, and
    whatever shrinks is never refused."""
    for quota, limit, used, adding in (
        ("agents", quotas.agents, usage.agents, agents),
        ("versions", quotas.versions, usage.versions, versions),
        ("stored_bytes", quotas.stored_bytes, usage.stored_bytes, stored_bytes),
    ):
        if adding > 0 and used + adding > limit:
            raise QuotaExceeded(quota, limit=limit, used=used, adding=adding)
