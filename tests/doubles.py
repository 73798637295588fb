"""The only test doubles: a clock that moves only when told, and ids in a predictable order."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 1) -> datetime:
        self.current += timedelta(seconds=seconds)
        return self.current


class SequentialIds:
    """UUIDs 00000000-…-000000000001, …-000000000002, …: ordered like the order they were made in."""

    def __init__(self) -> None:
        self.last = 0

    def new_id(self) -> UUID:
        self.last += 1
        return UUID(int=self.last)
