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
    """Holds one pooled connection from `async with` to its end; only `commit()` keeps anything.

    A read-only one is no transaction: each statement (or pipeline of statements) is its own, in the pooled
    connection's autocommit, so neither a BEGIN nor a ROLLBACK costs a round trip. At READ COMMITTED, the isolation
    every unit of work runs at, a transaction gives its statements no common snapshot either, so its reads see
    nothing less consistent. Any other sends its BEGIN with its first statements (Session)."""

    def __init__(self, pool: AsyncConnectionPool, *, read_only: bool = False) -> None:
        self._pool = pool
        self._read_only = read_only
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
            conn = await self._pool.getconn()
        self._session = Session(conn, transaction=not self._read_only)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not session.conn.broken:
                await session.conn.rollback()  # whatever was not committed is dropped; idle, nothing is sent
        except psycopg.Error:
            pass  # the pool checks a returned connection and replaces it when it is broken
        finally:
            await self._pool.putconn(session.conn)

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self.session.commit()
