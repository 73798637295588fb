"""A unit of work's connection as its repositories use it, and the one place driver errors are translated."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, LiteralString, TypeVar

import msgspec
import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from domain.errors import ConcurrentUpdate, Unavailable

T = TypeVar("T")


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Nothing from psycopg crosses into the application: an unreachable or failing server is Unavailable, a lost
    race (which the row locks make rare) is a ConcurrentUpdate."""
    try:
        yield
    except PoolTimeout as exc:
        raise Unavailable("no database connection became free in time") from exc
    except (errors.SerializationFailure, errors.DeadlockDetected) as exc:
        raise ConcurrentUpdate("another request changed the same data at the same time; retry") from exc
    except psycopg.OperationalError as exc:
        raise Unavailable("the database cannot be reached") from exc


class Session:
    """The connection of one unit of work, as its repositories use it.

    Pooled connections are in autocommit (adapters/postgres/pool.py); a session that is a `transaction` sends its
    own BEGIN, in the pipeline of its first statements. psycopg, left to begin a transaction itself in pipeline mode,
    waits for its BEGIN's answer alone: a round trip of its own in every write.

    Writes whose result nobody reads (`write`) are held back and sent together, in one pipeline, with the next
    read or with the commit: a writer holding an agent's row lock then waits for one round trip where it waited
    for one per statement (BENCHMARKS.md, (d)). Order is kept: a read sends what was written before it first.
    """

    def __init__(self, conn: psycopg.AsyncConnection[Any], *, transaction: bool = True) -> None:
        self.conn = conn
        self._begin = transaction  # BEGIN still to be sent, ahead of the first statement
        self._writes: list[tuple[LiteralString, dict[str, Any] | None]] = []
        # Rows read ahead, in a round trip made anyway, for the repository that would read them to take once
        # (the organization's usage, read with an agent's lock: adapters/postgres/usage.py).
        self.read_ahead: dict[tuple[str, object], dict[str, Any]] = {}

    def write(self, query: LiteralString, params: dict[str, Any]) -> None:
        """An INSERT or UPDATE, sent with the next read or the commit; its errors surface there."""
        self._writes.append((query, params))

    async def commit(self) -> None:
        """What was written, then COMMIT, in one round trip; nothing to send when nothing was."""
        if self._begin and not self._writes:
            return  # no statement was ever sent: no transaction to end
        async with translated_errors(), self.conn.pipeline():
            await self._send([*self._take_writes(), ("COMMIT", None)])

    async def rows_of_each(self, *statements: tuple[LiteralString, dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Several reads in one round trip, run in order; each starts after the one before has finished (after a
        row lock it waited for, say), with a snapshot of its own."""
        async with translated_errors():
            cursors = [self.conn.cursor(row_factory=dict_row) for _ in statements]
            async with self.conn.pipeline():
                await self._send(self._take_writes())
                for cur, (query, params) in zip(cursors, statements, strict=True):
                    await cur.execute(query, params)
            found = [await cur.fetchall() if cur.description else [] for cur in cursors]
            for cur in cursors:
                await cur.close()
            return found

    def _take_writes(self) -> list[tuple[LiteralString, dict[str, Any] | None]]:
        """What is to be sent ahead of the next statement: BEGIN, the first time, and the writes held back."""
        writes, self._writes = self._writes, []
        if self._begin:
            self._begin = False
            writes.insert(0, ("BEGIN", None))
        return writes

    async def _send(self, writes: list[tuple[LiteralString, dict[str, Any] | None]]) -> None:
        """Within an open pipeline: queued, not waited for."""
        for query, params in writes:
            await self.conn.execute(query, params)

    async def rows(self, query: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self._writes or self._begin:
            return (await self.rows_of_each((query, params)))[0]
        async with translated_errors(), self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall() if cur.description else []

    async def row(self, query: LiteralString, params: dict[str, Any]) -> dict[str, Any] | None:
        found = await self.rows(query, params)
        return found[0] if found else None

    async def one(self, query: LiteralString, params: dict[str, Any]) -> dict[str, Any]:
        """For statements that always yield a row (an aggregate, INSERT … RETURNING)."""
        found = await self.rows(query, params)
        if len(found) != 1:
            raise RuntimeError(f"expected one row, got {len(found)}")
        return found[0]


def row_as(row: dict[str, Any], kind: type[T]) -> T:
    """A row as a domain record: msgspec coerces text to enums and validates every field."""
    return msgspec.convert(row, kind)
