"""Agents, versions and the audit trail in process memory, with PostgreSQL's semantics: one unit of work at a
time (as if every transaction were serializable), changes visible to others only after `commit()`."""

import asyncio
from typing import Self
from uuid import UUID

import msgspec

from adapters.memory.agents import InMemoryAgentRepository
from adapters.memory.audit import InMemoryAuditLog
from adapters.memory.blueprints import InMemoryBlueprintRepository
from adapters.memory.idempotency import InMemoryIdempotencyLog
from adapters.memory.labels import InMemoryLabelRepository
from adapters.memory.usage import InMemoryUsageRepository
from adapters.memory.webhooks import InMemoryWebhookRepository
from domain.agents import Agent
from domain.audit import AuditEvent
from domain.blueprints import BlueprintVersion
from domain.idempotency import StoredResponse
from domain.labels import Label, LabelMove
from domain.quotas import Usage
from domain.webhooks import Delivery, Endpoint, WebhookEvent


class InMemoryState(msgspec.Struct, kw_only=True):
    """Everything stored. Records are frozen, so a copy of the containers is a snapshot."""

    agents: dict[UUID, Agent] = msgspec.field(default_factory=dict)
    versions: dict[UUID, BlueprintVersion] = msgspec.field(default_factory=dict)
    labels: dict[tuple[UUID, str], Label] = msgspec.field(default_factory=dict)
    label_moves: list[LabelMove] = msgspec.field(default_factory=list)
    audit: list[AuditEvent] = msgspec.field(default_factory=list)
    idempotency: dict[tuple[UUID, str], StoredResponse] = msgspec.field(default_factory=dict)
    last_agent_number: int = 0
    webhooks: dict[UUID, Endpoint] = msgspec.field(default_factory=dict)
    webhook_events: dict[UUID, WebhookEvent] = msgspec.field(default_factory=dict)
    deliveries: dict[UUID, Delivery] = msgspec.field(default_factory=dict)
    last_delivery_seq: int = 0
    deliveries_made_due: int = 0  # counts retries by hand: a commit that changes it wakes the delivery worker
    usage: dict[UUID, Usage] = msgspec.field(default_factory=dict)  # by organization

    def snapshot(self) -> "InMemoryState":
        return InMemoryState(
            agents=dict(self.agents),
            versions=dict(self.versions),
            labels=dict(self.labels),
            label_moves=list(self.label_moves),
            audit=list(self.audit),
            idempotency=dict(self.idempotency),
            last_agent_number=self.last_agent_number,
            webhooks=dict(self.webhooks),
            webhook_events=dict(self.webhook_events),
            deliveries=dict(self.deliveries),
            last_delivery_seq=self.last_delivery_seq,
            deliveries_made_due=self.deliveries_made_due,
            usage=dict(self.usage),
        )


class InMemoryStore:
    """The database: shared by every unit of work made from it."""

    def __init__(self) -> None:
        self.state = InMemoryState()
        self.lock = asyncio.Lock()
        self.deliveries_queued = asyncio.Event()  # set by a commit that queued webhook deliveries

    def unit_of_work(self, *, read_only: bool = False) -> "InMemoryUnitOfWork":
        return InMemoryUnitOfWork(self, read_only=read_only)


class InMemoryUnitOfWork:
    def __init__(self, store: InMemoryStore, *, read_only: bool = False) -> None:
        self._store = store
        self._state = store.state
        self._read_only = read_only

    @property
    def agents(self) -> InMemoryAgentRepository:
        return InMemoryAgentRepository(self._state)

    @property
    def versions(self) -> InMemoryBlueprintRepository:
        return InMemoryBlueprintRepository(self._state)

    @property
    def labels(self) -> InMemoryLabelRepository:
        return InMemoryLabelRepository(self._state)

    @property
    def audit(self) -> InMemoryAuditLog:
        return InMemoryAuditLog(self._state)

    @property
    def idempotency(self) -> InMemoryIdempotencyLog:
        return InMemoryIdempotencyLog(self._state)

    @property
    def webhooks(self) -> InMemoryWebhookRepository:
        return InMemoryWebhookRepository(self._state)

    @property
    def usage(self) -> InMemoryUsageRepository:
        return InMemoryUsageRepository(self._state)

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._state = self._store.state.snapshot()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._store.lock.release()  # without commit(), the snapshot and every change in it are dropped

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        before, after = self._store.state, self._state
        if (after.last_delivery_seq, after.deliveries_made_due) != (
            before.last_delivery_seq,
            before.deliveries_made_due,
        ):
            self._store.deliveries_queued.set()
        self._store.state = self._state
        self._state = self._state.snapshot()
