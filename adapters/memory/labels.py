"""Release labels and their history in process memory."""

from typing import TYPE_CHECKING
from uuid import UUID

from domain.labels import Label, LabelMove

if TYPE_CHECKING:
    from adapters.memory.unit_of_work import InMemoryState


class InMemoryLabelRepository:
    def __init__(self, state: "InMemoryState") -> None:
        self._state = state

    async def all(self, agent_id: UUID) -> list[Label]:
        return sorted((label for label in self._state.labels.values() if label.agent_id == agent_id),
                      key=lambda label: label.name)  # fmt: skip

    async def get(self, agent_id: UUID, name: str) -> Label | None:
        return self._state.labels.get((agent_id, name))

    async def put(self, label: Label) -> None:
        self._state.labels[(label.agent_id, label.name)] = label

    async def delete(self, agent_id: UUID, name: str) -> None:
        self._state.labels.pop((agent_id, name), None)

    async def add_move(self, move: LabelMove) -> None:
        self._state.label_moves.append(move)

    async def last_moves(self, agent_id: UUID) -> dict[str, LabelMove]:
        last: dict[str, LabelMove] = {}
        for move in self._state.label_moves:
            if move.agent_id == agent_id and (move.name not in last or move.seq > last[move.name].seq):
                last[move.name] = move
        return last

    async def history(self, agent_id: UUID, name: str, *, limit: int, before: int | None) -> list[LabelMove]:
        rows = [m for m in self._state.label_moves
                if m.agent_id == agent_id and m.name == name and (before is None or m.seq < before)]  # fmt: skip
        return sorted(rows, key=lambda move: move.seq, reverse=True)[:limit]
