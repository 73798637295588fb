"""One transaction per use case on one pooled connection."""

from typing import Self

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.agents import PostgresAgentRepository
from adapters.postgres.audit import PostgresAuditLog
from adapters.postgres.blueprints import PostgresBlueprintRepository
from adapters.postgres.idempotency import PostgresIdempotencyLog
from adapters.postgres.labels import PostgresLabelRepository
from adapters.postgres.session import Session, translated_errors
from adapters.postgres.usage import PostgresUsageRepository
from adapters.postgres.webhooks import PostgresWebhookRepository


class PostgresUnitOfWork:
    """Holds one pooled connection from `async with` to its end; only `commit()` keeps anything."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work in an `async with` block")
        return self._session

    @property
    def agents(self) -> PostgresAgentRepository:
        return PostgresAgentRepository(self.session)

    @property
    def versions(self) -> PostgresBlueprintRepository:
        return PostgresBlueprintRepository(self.session)

    @property
    def labels(self) -> PostgresLabelRepository:
        return PostgresLabelRepository(self.session)

    @property
    def audit(self) -> PostgresAuditLog:
        return PostgresAuditLog(self.session)

    @property
    def idempotency(self) -> PostgresIdempotencyLog:
        return PostgresIdempotencyLog(self.session)

    @property
    def webhooks(self) -> PostgresWebhookRepository:
        return PostgresWebhookRepository(self.session)

    @property
    def usage(self) -> PostgresUsageRepository:
        return PostgresUsageRepository(self.session)

    async def __aenter__(self) -> Self:
        async with translated_errors():
            self._session = Session(await self._pool.getconn())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not session.conn.broken:
                await session.conn.rollback()  # whatever was not committed is dropped
        except psycopg.Error:
            pass  # the pool checks a returned connection and replaces it when it is broken
        finally:
            await self._pool.putconn(session.conn)

    async def commit(self) -> None:
        await self.session.commit()
