"""The composition root: the only module that chooses adapters and wires them to the application."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from adapters.embedded_postgres import embedded_postgres
from adapters.memory.tokens import InMemoryTokenStore
from adapters.postgres.pool import database_answers, open_pool
from adapters.postgres.tokens import PostgresTokenStore
from application.ports import Clock, IdSource, TokenStore
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
class Services:
    """What the entrypoints get from storage: the ports, plus a readiness probe of the database."""

    tokens: TokenStore
    clock: Clock
    ids: IdSource
    ready: Callable[[], Awaitable[bool]]


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
async def postgres_services(settings: Settings, conninfo: str) -> AsyncIterator[Services]:
    async with open_pool(
        conninfo,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout_s=settings.pool_timeout_s,
    ) as pool:

        async def ready() -> bool:
            return await database_answers(pool, settings.pool_timeout_s)

        yield Services(tokens=PostgresTokenStore(pool), clock=SystemClock(), ids=RandomIds(), ready=ready)


def memory_services() -> Services:
    return Services(tokens=InMemoryTokenStore(), clock=SystemClock(), ids=RandomIds(), ready=_always_ready)
