"""Release labels (agent_labels) and their history (agent_label_moves) in PostgreSQL, reached through an agent
already scoped by its organization. Migration 0009 makes both."""

from typing import Final
from uuid import UUID

import msgspec

from adapters.postgres.session import Session, row_as
from domain.labels import Label, LabelMove

# By code point, as the memory adapter sorts: the database's collation must not decide the order (ICU's en-US sorts
# 'a_b' before 'a-c', 'a.b' and 'a0'; glibc's ignores the punctuation).
SELECT_LABELS: Final = """
    SELECT l.agent_id, l.name, l.blueprint_id, b.version, l.protected, l.moved_at, l.moved_by
    FROM agent_labels l JOIN agent_blueprints b ON b.id = l.blueprint_id
    WHERE l.agent_id = %(agent_id)s
    ORDER BY l.name COLLATE "C"
"""
SELECT_LABEL: Final = """
    SELECT l.agent_id, l.name, l.blueprint_id, b.version, l.protected, l.moved_at, l.moved_by
    FROM agent_labels l JOIN agent_blueprints b ON b.id = l.blueprint_id
    WHERE l.agent_id = %(agent_id)s AND l.name = %(name)s
"""
PUT_LABEL: Final = """
    INSERT INTO agent_labels (agent_id, name, blueprint_id, protected, moved_at, moved_by)
    VALUES (%(agent_id)s, %(name)s, %(blueprint_id)s, %(protected)s, %(moved_at)s, %(moved_by)s)
    ON CONFLICT (agent_id, name) DO UPDATE
    SET blueprint_id = EXCLUDED.blueprint_id, protected = EXCLUDED.protected, moved_at = EXCLUDED.moved_at,
        moved_by = EXCLUDED.moved_by
"""
DELETE_LABEL: Final = "DELETE FROM agent_labels WHERE agent_id = %(agent_id)s AND name = %(name)s"
INSERT_MOVE: Final = """
    INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, version, previous_blueprint_id, previous_version,
                                   moved_by, moved_at)
    VALUES (%(agent_id)s, %(name)s, %(seq)s, %(blueprint_id)s, %(version)s, %(previous_blueprint_id)s,
            %(previous_version)s, %(moved_by)s, %(moved_at)s)
"""
# The newest entry of each label: a skip scan of the primary key (agent_id, name, seq), one probe for the next name
# and one for its last entry per label, however long the histories. (DISTINCT ON read every move of the agent, and
# with long histories PostgreSQL chose to read the whole table for it: every move of a label ran this.)
SELECT_LAST_MOVES: Final = """
    WITH RECURSIVE named AS (
        (SELECT name FROM agent_label_moves WHERE agent_id = %(agent_id)s ORDER BY name LIMIT 1)
        UNION ALL
        SELECT (SELECT m.name FROM agent_label_moves m
                WHERE m.agent_id = %(agent_id)s AND m.name > named.name ORDER BY m.name LIMIT 1)
        FROM named WHERE named.name IS NOT NULL
    )
    SELECT last.agent_id, last.name, last.seq, last.blueprint_id, last.version, last.previous_blueprint_id,
           last.previous_version, last.moved_by, last.moved_at
    FROM named CROSS JOIN LATERAL (
        SELECT agent_id, name, seq, blueprint_id, version, previous_blueprint_id, previous_version, moved_by, moved_at
        FROM agent_label_moves
        WHERE agent_id = %(agent_id)s AND name = named.name
        ORDER BY seq DESC
        LIMIT 1
    ) last
"""
# On the primary key.
SELECT_HISTORY: Final = """
    SELECT agent_id, name, seq, blueprint_id, version, previous_blueprint_id, previous_version, moved_by, moved_at
    FROM agent_label_moves
    WHERE agent_id = %(agent_id)s AND name = %(name)s AND seq < %(before)s
    ORDER BY seq DESC
    LIMIT %(limit)s
"""
ABOVE_ANY_SEQ: Final = 2**31 - 1  # the column is an INTEGER


class PostgresLabelRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def all(self, agent_id: UUID) -> list[Label]:
        return [row_as(row, Label) for row in await self._session.rows(SELECT_LABELS, {"agent_id": agent_id})]

    async def get(self, agent_id: UUID, name: str) -> Label | None:
        row = await self._session.row(SELECT_LABEL, {"agent_id": agent_id, "name": name})
        return row_as(row, Label) if row else None

    async def put(self, label: Label) -> None:
        self._session.write(PUT_LABEL, msgspec.structs.asdict(label))

    async def delete(self, agent_id: UUID, name: str) -> None:
        self._session.write(DELETE_LABEL, {"agent_id": agent_id, "name": name})

    async def add_move(self, move: LabelMove) -> None:
        self._session.write(INSERT_MOVE, msgspec.structs.asdict(move))

    async def last_moves(self, agent_id: UUID) -> dict[str, LabelMove]:
        rows = await self._session.rows(SELECT_LAST_MOVES, {"agent_id": agent_id})
        return {row["name"]: row_as(row, LabelMove) for row in rows}

    async def history(self, agent_id: UUID, name: str, *, limit: int, before: int | None) -> list[LabelMove]:
        params = {"agent_id": agent_id, "name": name, "limit": limit,
                  "before": ABOVE_ANY_SEQ if before is None else min(before, ABOVE_ANY_SEQ)}  # fmt: skip
        return [row_as(row, LabelMove) for row in await self._session.rows(SELECT_HISTORY, params)]
