"""What every use case receives: the ports, chosen by the composition root (entrypoints/bootstrap.py)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from application.live_cache import LiveCache
from application.ports import Clock, IdentityProvider, IdSource, TokenStore, UnitOfWorkFactory, WebhookOutbox
from domain.quotas import Quotas

Readiness = Callable[[], Awaitable[bool]]  # True when storage answers now (GET /ready)


class PoolStats(NamedTuple):
    """The process's database connections now, for the metrics; the last three count since the pool opened."""

    size: int  # connections open
    idle: int
    max_size: int
    waiting: int  # requests waiting for a connection now
    waited: int  # requests that had to wait
    wait_s: float  # the time they waited, in all
    timeouts: int  # requests that gave up waiting (answered 503)


PoolUse = Callable[[], PoolStats]


@dataclass(frozen=True)
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdSource
    tokens: TokenStore
    live: LiveCache  # serves only while attached to a feed of every change (bootstrap decides which)
    ready: Readiness
    outbox: WebhookOutbox  # the webhook deliveries the running service attempts
    identity: IdentityProvider | None = None  # sign-in tokens of an identity provider, when the deployment has one
    allow_private_webhooks: bool = False  # webhooks may target loopback and private addresses, over http too
    pool: PoolUse | None = None  # the database connections' use, where storage has a pool (the metrics read it)
    quotas: Quotas = field(default_factory=Quotas)  # what one organization may store (entrypoints/settings.py)
