"""The composition root: the only module that chooses adapters and wires them to the application."""

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final
from uuid import UUID, uuid4

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout

from adapters.embedded_postgres import EmbeddedPostgresError, embedded_postgres
from adapters.jwt_identity import ClaimNames, InvalidKeySet, JwtIdentity, KeySet, KeySource, RemoteKeySet, SharedSecret
from adapters.memory.tokens import InMemoryTokenStore
from adapters.memory.unit_of_work import InMemoryStore
from adapters.memory.webhooks import InMemoryWebhookOutbox
from adapters.postgres import changes, migrations, roles
from adapters.postgres.metrics import WebhookBacklog
from adapters.postgres.metrics import webhook_backlog as count_webhook_backlog
from adapters.postgres.pool import database_answers, open_pool, pool_stats
from adapters.postgres.tokens import PostgresTokenStore
from adapters.postgres.transfer import PostgresOrganizationArchive
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.postgres.webhooks import PostgresWebhookOutbox
from adapters.webhook_sender import HttpWebhookSender
from application.deps import Deps
from application.housekeeping import Retention
from application.live_cache import LiveCache
from application.ports import Clock, IdentityProvider, IdSource, OrganizationArchive
from domain.quotas import MIB, Quotas
from entrypoints.housekeeping_worker import purge_forever
from entrypoints.settings import JWT_JWKS, Settings, SettingsError
from entrypoints.webhook_worker import deliver_forever


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> UUID:
        return uuid4()


async def _always_ready() -> bool:
    return True


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The conninfo of the service's database: DATABASE_URL as given, else the embedded server for the data dir
    (started when no other org-agents process runs it, stopped when the last one leaves)."""
    for name, given in (("DATABASE_URL", settings.database_url), ("ORG_AGENTS_LISTEN_URL", settings.listen_url)):
        try:
            conninfo_to_dict(given or "")
        except psycopg.ProgrammingError as exc:
            raise SettingsError(f"{name} is not a PostgreSQL connection string: {exc}") from None
    if settings.database_url:
        yield settings.database_url
        return
    if settings.pgbouncer:
        raise SettingsError("ORG_AGENTS_PGBOUNCER=1 needs a DATABASE_URL naming the PgBouncer")
    with embedded_postgres(settings.data_dir) as conninfo:
        yield conninfo


def service_database(settings: Settings, owner_conninfo: str) -> str:
    """The conninfo `serve`'s workers use. On the embedded server, which org-agents owns, a role that may read and
    write but not change the schema (adapters/postgres/roles.py); DATABASE_URL as given (its operator picks the
    role: README, "Configuration")."""
    return owner_conninfo if settings.database_url else roles.service_role(owner_conninfo)


# What the CLI maps to exit codes, besides its own errors: the storage refused (migrations out of step with the code,
# the embedded server cannot start; the message says why) and the database unreachable.
STORAGE_REFUSED: Final[tuple[type[Exception], ...]] = (migrations.MigrationError, EmbeddedPostgresError)
DATABASE_UNREACHABLE: Final[tuple[type[Exception], ...]] = (psycopg.OperationalError, PoolTimeout)


def ensure_reachable(conninfo: str, timeout_s: float) -> None:
    """Raises what DATABASE_UNREACHABLE holds when the database does not answer within `timeout_s`."""
    with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout_s))) as conn:
        conn.execute("SELECT 1")


def apply_migrations(conninfo: str, *, log: Callable[[str], None]) -> list[migrations.Migration]:
    return migrations.migrate_up(conninfo, migrations.load_migrations(), log=log)


def undo_last_migration(conninfo: str, *, log: Callable[[str], None]) -> migrations.Migration | None:
    return migrations.migrate_down(conninfo, migrations.load_migrations(), log=log)


def migration_status(conninfo: str) -> migrations.Status:
    return migrations.status(conninfo, migrations.load_migrations())


def webhook_backlog(conninfo: str, timeout_s: float) -> WebhookBacklog | None:
    """The deliveries waiting, for `serve`'s metrics listener; None when the database does not answer in time."""
    try:
        return count_webhook_backlog(conninfo, timeout_s)
    except psycopg.Error:
        return None


def organization_archive(settings: Settings, conninfo: str) -> OrganizationArchive:
    """`export` and `import`: PostgreSQL only (the CLI always runs on it), so there is no memory archive."""
    return PostgresOrganizationArchive(conninfo, lock_timeout_s=settings.statement_timeout_s)


def quotas_of(settings: Settings) -> Quotas:
    return Quotas(agents=settings.quota_agents, versions=settings.quota_versions, stored_bytes=settings.quota_mb * MIB)


def live_cache_of(settings: Settings) -> LiveCache:
    return LiveCache(
        max_prompt_bytes=settings.live_cache_mb * 1024 * 1024, principal_ttl_s=settings.token_cache_s,
        max_watchers=settings.max_watchers,
    )  # fmt: skip


def identity_of(settings: Settings) -> IdentityProvider | None:
    """The identity provider whose sign-in tokens the settings accept, or None (sign-in off). A JWKS file is read
    here, once; a JWKS URL is fetched when a token first needs it."""
    sign_in = settings.sign_in
    if sign_in is None:
        return None
    keys: KeySource
    if sign_in.hs256_secret is not None:
        keys = SharedSecret(sign_in.hs256_secret.encode())
    elif sign_in.jwks_url is not None:
        keys = RemoteKeySet(sign_in.jwks_url)
    elif sign_in.jwks_file is not None:
        try:
            keys = KeySet.from_file(sign_in.jwks_file)
        except InvalidKeySet as exc:
            raise SettingsError(f"{JWT_JWKS}: {exc}") from None
    else:
        raise SettingsError("sign-in needs an HS256 secret or a JWKS")
    claims = ClaimNames(org=sign_in.org_claim, user=sign_in.user_claim, role=sign_in.role_claim)
    return JwtIdentity(keys, issuer=sign_in.issuer, audience=sign_in.audience, leeway_s=sign_in.leeway_s, claims=claims)


@asynccontextmanager
async def postgres_deps(
    settings: Settings,
    conninfo: str,
    *,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    follow_changes: bool = True,
) -> AsyncIterator[Deps]:
    """With `follow_changes` (and a cache size above 0), live prompts and principals are served from memory, kept
    true by the database's change notices (adapters/postgres/changes.py, the only adapter that calls the cache)."""
    live = live_cache_of(settings)
    identity = identity_of(settings)
    async with open_pool(
        conninfo,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout_s=settings.pool_timeout_s,
        statement_timeout_s=settings.statement_timeout_s,
        pgbouncer=settings.pgbouncer,
    ) as pool:

        async def ready() -> bool:
            return await database_answers(pool, settings.pool_timeout_s)

        outbox = PostgresWebhookOutbox(pool)
        feed = None
        if follow_changes and settings.live_cache_mb > 0:
            feed = asyncio.create_task(
                changes.follow_changes(settings.listen_url or conninfo, live, on_webhooks=outbox.notify),
                name="org-agents change feed",
            )
        try:
            yield Deps(
                uow=partial(PostgresUnitOfWork, pool),
                tokens=PostgresTokenStore(pool),
                clock=clock or SystemClock(),
                ids=ids or RandomIds(),
                live=live,
                ready=ready,
                outbox=outbox,
                identity=identity,
                allow_private_webhooks=settings.webhook_allow_private,
                pool=lambda: pool_stats(pool),
                quotas=quotas_of(settings),
            )
        finally:
            if feed is not None:
                feed.cancel()
                with suppress(asyncio.CancelledError):
                    await feed


def memory_deps(clock: Clock | None = None, ids: IdSource | None = None, *, settings: Settings | None = None) -> Deps:
    """Everything in process memory: for fast tests, and for trying the service without a database. Every change
    is made by this process's use cases, which tell the cache after each commit: that is the whole change feed, so
    the cache is attached from the start and the hot path is the one PostgreSQL runs. Of `settings`, only sign-in,
    private webhooks and the quotas are used."""
    live = LiveCache()
    live.attach()
    store = InMemoryStore()
    return Deps(
        uow=store.unit_of_work,
        tokens=InMemoryTokenStore(store),
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        live=live,
        ready=_always_ready,
        outbox=InMemoryWebhookOutbox(store),
        identity=None if settings is None else identity_of(settings),
        allow_private_webhooks=settings is not None and settings.webhook_allow_private,
        quotas=Quotas() if settings is None else quotas_of(settings),
    )


@asynccontextmanager
async def webhook_deliveries(deps: Deps, settings: Settings) -> AsyncIterator[None]:
    """The process's webhook delivery worker (entrypoints/webhook_worker.py), running until the block ends; a
    delivery it was sending then is attempted again later."""
    sender = HttpWebhookSender(allow_private=settings.webhook_allow_private, timeout_s=settings.webhook_timeout_s)
    try:
        async with _running(deliver_forever(deps, sender), "org-agents webhook deliveries"):
            yield
    finally:
        await sender.aclose()


@asynccontextmanager
async def retention(deps: Deps, settings: Settings) -> AsyncIterator[None]:
    """The process's retention worker (entrypoints/housekeeping_worker.py), running until the block ends."""
    kept = Retention(audit_days=settings.audit_retention_days, webhook_log_days=settings.webhook_log_days)
    async with _running(purge_forever(deps, kept), "org-agents retention"):
        yield


@asynccontextmanager
async def _running(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    task = asyncio.create_task(work, name=name)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
