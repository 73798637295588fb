"""The connection pool every PostgreSQL adapter shares, and the readiness probe built on it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from application.deps import PoolStats


async def use_msgspec_json(conn: psycopg.AsyncConnection[Any]) -> None:
    """JSON columns read and written by msgspec: several times faster than the json module on blueprints."""
    set_json_loads(msgspec.json.decode, conn)
    set_json_dumps(msgspec.json.encode, conn)


@asynccontextmanager
async def open_pool(
    conninfo: str,
    *,
    min_size: int,
    max_size: int,
    timeout_s: float,
    statement_timeout_s: float = 10.0,
    name: str = "org-agents",
    pgbouncer: bool = False,
) -> AsyncIterator[AsyncConnectionPool]:
    """Opens the pool and waits for its first connections, so a wrong DATABASE_URL fails at startup. A statement
    that runs longer than `statement_timeout_s` (a slow or locked database) is cancelled by the server.

    With `pgbouncer` (DATABASE_URL goes through PgBouncer in transaction pooling mode), each transaction may run on
    another server connection: nothing is prepared on the server (psycopg prepares a query it sent five times), and
    no session setting is sent at connection, since PgBouncer refuses startup options; its own `connect_query` sets
    the statement timeout there (README, "Behind PgBouncer").

    Connections are in autocommit: a single statement is its own transaction, with no BEGIN and COMMIT around it
    (a round trip each); a transaction begins explicitly (`conn.transaction()`, or Session's BEGIN)."""
    kwargs: dict[str, Any] = {"application_name": name, "autocommit": True}
    if pgbouncer:
        kwargs["prepare_threshold"] = None
    else:
        kwargs["options"] = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
    pool = AsyncConnectionPool(
        conninfo, min_size=min_size, max_size=max_size, timeout=timeout_s, open=False, name=name, kwargs=kwargs,
        configure=use_msgspec_json,
    )  # fmt: skip
    await pool.open(wait=True, timeout=timeout_s)
    try:
        yield pool
    finally:
        await pool.close()


async def database_answers(pool: AsyncConnectionPool, timeout_s: float) -> bool:
    """True when a pooled connection runs `SELECT 1` within the timeout."""
    try:
        async with pool.connection(timeout=timeout_s) as conn:
            await conn.execute("SELECT 1")
    except (PoolTimeout, psycopg.Error):
        return False
    return True


def pool_stats(pool: AsyncConnectionPool) -> PoolStats:
    """psycopg_pool's own statistics (`get_stats()`; its counters are absent until they first count)."""
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return PoolStats(
        size=size, idle=idle, max_size=stats.get("pool_max", pool.max_size), waiting=stats.get("requests_waiting", 0),
        waited=stats.get("requests_queued", 0), wait_s=stats.get("requests_wait_ms", 0) / 1000,
        timeouts=stats.get("requests_errors", 0),
    )  # fmt: skip
