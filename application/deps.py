"""What every use case receives: the ports, chosen by the composition root."""

from dataclasses import dataclass

from application.ports import Clock, IdSource, TokenStore, UnitOfWorkFactory


@dataclass(frozen=True)
class Deps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdSource
    tokens: TokenStore
