"""A unit of work's connection as its repositories use it, and the one place driver errors are translated."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, LiteralString, TypeVar

import msgspec
import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from domain.errors import ConcurrentUpdate, Unavailable

if TYPE_CHECKING:
    from uuid import UUID

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
    """The connection of one unit of work, as its repositories use it."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.changed_agents: set[UUID] = set()  # what this process's live cache forgets once the work commits

    async def rows(self, query: LiteralString, params: dict[str, Any]) -> list[dict[str, Any]]:
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

    async def execute(self, query: LiteralString, params: dict[str, Any]) -> int:
        async with translated_errors(), self.conn.cursor() as cur:
            await cur.execute(query, params)
            return cur.rowcount


def to(row: dict[str, Any], kind: type[T]) -> T:
    """A row as a domain record: msgspec coerces text to enums and validates every field."""
    return msgspec.convert(row, kind)
