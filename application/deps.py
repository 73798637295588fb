"""What every use case receives: the ports, chosen by the composition root."""

from dataclasses import dataclass, field

from application.live_cache import LiveCache
from application.ports import Clock, IdSource, TokenStore, UnitOfWorkFactory


@dataclass(frozen=True)
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdSource
    tokens: TokenStore
    live: LiveCache = field(default_factory=LiveCache)  # serves nothing until a change feed attaches it
