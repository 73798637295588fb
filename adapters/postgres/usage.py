"""What each organization stores (agent_org_usage, migration 0016), counted in slots: an organization's counts are
spread over SLOTS rows by a hash of the agent written, so writers of different agents rarely update the same row
(32 writers of one organization do not queue on one row lock), and reading them sums at most SLOTS rows."""

import hashlib
from typing import Any, Final
from uuid import UUID

from adapters.postgres.session import Session, row_as
from domain.quotas import Usage

SLOTS: Final = 64
# Committed rows and this transaction's own; no lock: a quota may be passed by the writes in flight at once.
SELECT_USAGE: Final = """
    SELECT COALESCE(sum(agents), 0)::bigint AS agents, COALESCE(sum(versions), 0)::bigint AS versions,
           COALESCE(sum(stored_bytes), 0)::bigint AS stored_bytes
    FROM agent_org_usage
    WHERE org_id = %(org_id)s
"""
# The slot's row is locked from here to the commit, which is sent in the same round trip (Session.write).
ADD_USAGE: Final = """
    INSERT INTO agent_org_usage (org_id, slot, agents, versions, stored_bytes)
    VALUES (%(org_id)s, %(slot)s, %(agents)s, %(versions)s, %(stored_bytes)s)
    ON CONFLICT (org_id, slot) DO UPDATE
    SET agents = agent_org_usage.agents + EXCLUDED.agents,
        versions = agent_org_usage.versions + EXCLUDED.versions,
        stored_bytes = agent_org_usage.stored_bytes + EXCLUDED.stored_bytes
"""


def slot_of(agent_id: UUID) -> int:
    """The first byte of the SHA-256 of the id's 16 bytes, modulo SLOTS: what 0016's backfill computes as
    `get_byte(sha256(uuid_send(id)), 0) % 64`, so an agent's counts stay in one row whoever wrote them."""
    return hashlib.sha256(agent_id.bytes).digest()[0] % SLOTS


def usage_params(org_id: UUID, slot: int, *, agents: int, versions: int, stored_bytes: int) -> dict[str, object]:
    return {"org_id": org_id, "slot": slot, "agents": agents, "versions": versions, "stored_bytes": stored_bytes}


def read_ahead(session: Session, org_id: UUID, row: dict[str, Any]) -> None:
    """SELECT_USAGE's row, read by another repository in a round trip it made anyway (the agent's lock), for the
    next `of` to take instead of asking again."""
    session.read_ahead[("usage", org_id)] = row


class PostgresUsageRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def of(self, org_id: UUID) -> Usage:
        row = self._session.read_ahead.pop(("usage", org_id), None)
        if row is None:
            row = await self._session.one(SELECT_USAGE, {"org_id": org_id})
        return row_as(row, Usage)

    async def add(self, org_id: UUID, agent_id: UUID, *, agents: int = 0, versions: int = 0,
                  stored_bytes: int = 0) -> None:  # fmt: skip
        self._session.read_ahead.pop(("usage", org_id), None)  # read ahead of this addition: no longer true
        params = usage_params(org_id, slot_of(agent_id), agents=agents, versions=versions, stored_bytes=stored_bytes)
        self._session.write(ADD_USAGE, params)
