"""The composition root: the only module that chooses adapters and wires them to the application."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from adapters.embedded_postgres import embedded_postgres
from adapters.memory.tokens import InMemoryTokenStore
from adapters.memory.unit_of_work import InMemoryStore
from adapters.postgres import changes
from adapters.postgres.pool import database_answers, open_pool
from adapters.postgres.tokens import PostgresTokenStore
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.deps import Deps
from application.live_cache import LiveCache
from application.ports import Clock, IdSource
from entrypoints.settings import Settings


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> UUID:
        return uuid4()


async def _always_ready() -> bool:
    return True


@dataclass(frozen=True)
class Services(Deps):
    """What the entrypoints get: the use cases' dependencies, plus a readiness probe of the database."""

    ready: Callable[[], Awaitable[bool]] = _always_ready


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The conninfo of the service's database: DATABASE_URL as given, else the embedded server for the data dir
    (started when no other org-agents process runs it, stopped when the last one leaves)."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(settings.data_dir) as conninfo:
        yield conninfo


@asynccontextmanager
async def postgres_services(
    settings: Settings,
    conninfo: str,
    *,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    follow_changes: bool = True,
) -> AsyncIterator[Services]:
    """With `follow_changes` (and a cache size above 0), live prompts and principals are served from memory, kept
    true by the database's change notices (adapters/postgres/changes.py)."""
    live = LiveCache(max_prompt_bytes=settings.live_cache_mb * 1024 * 1024)
    async with open_pool(
        conninfo,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout_s=settings.pool_timeout_s,
        statement_timeout_s=settings.statement_timeout_s,
    ) as pool:

        async def ready() -> bool:
            return await database_answers(pool, settings.pool_timeout_s)

        feed = None
        if follow_changes and settings.live_cache_mb > 0:
            feed = asyncio.create_task(changes.follow_changes(conninfo, live), name="org-agents change feed")
        try:
            yield Services(
                uow=lambda: PostgresUnitOfWork(pool, live),
                tokens=PostgresTokenStore(pool, live),
                clock=clock or SystemClock(),
                ids=ids or RandomIds(),
                live=live,
                ready=ready,
            )
        finally:
            if feed is not None:
                feed.cancel()
                with suppress(asyncio.CancelledError):
                    await feed


def memory_services(clock: Clock | None = None, ids: IdSource | None = None) -> Services:
    """Everything in process memory: for fast tests, and for trying the service without a database. The live
    cache is on, and told of every commit at once, so the hot path is the one PostgreSQL runs."""
    live = LiveCache()
    store = InMemoryStore(live)
    return Services(
        uow=store.unit_of_work,
        tokens=InMemoryTokenStore(live),
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        live=live,
    )
