"""The ports: what the use cases need from the outside world, as Protocols that adapters satisfy."""

from collections.abc import AsyncGenerator, Collection, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, Self
from uuid import UUID

import msgspec

from application.pagination import AgentKey, AuditKey, TokenKey, WebhookKey
from domain.agents import Agent, AgentStatus
from domain.audit import Action, AuditEvent
from domain.blueprints import BlueprintVersion, CompilationStats, CompilationStatus, LivePrompt, VersionSummary
from domain.idempotency import StoredResponse
from domain.labels import Label, LabelMove
from domain.quotas import Usage
from domain.roles import Principal, Role, Scope
from domain.webhooks import Delivery, Endpoint, Outcome, WebhookEvent

if TYPE_CHECKING:  # the archive's records are its format, defined with the use cases that write and read it
    from application.transfer import ArchiveCounts, ArchiveRecord, OrganizationRecord


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdSource(Protocol):
    def new_id(self) -> UUID: ...


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an owner or an operator may see of a token: never the secret, never its hash."""

    id: UUID
    org_id: UUID
    org_name: str
    user_id: str
    role: Role
    created_at: datetime
    scope: Scope = Scope.MANAGE
    name: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None  # kept coarsely: at most one write per token per minute
    revoked_at: datetime | None = None


class TokenStore(Protocol):
    """API tokens, stored only as a SHA-256 hash of the secret. Writes that are audited take their event, written in
    the same transaction."""

    async def resolve(self, secret_hash: bytes) -> Principal | None:
        """The principal of the unrevoked token whose secret hashes to `secret_hash`, expired or not (the caller
        compares `expires_at` with its clock); None for an unknown or revoked one."""
        ...

    async def issue(self, info: TokenInfo, secret_hash: bytes, event: AuditEvent | None = None) -> TokenInfo:
        """Stores a token, creating `info.org_name` as an organization (with `info.org_id`) when it is new.

        Returns the stored token, whose org_id is the existing organization's when the name was known.
        """
        ...

    async def of_org(self, org_name: str) -> list[TokenInfo]:
        """Tokens of an organization, oldest first; empty for an unknown organization."""
        ...

    async def page(self, org_id: UUID, *, limit: int, after: TokenKey | None) -> list[TokenInfo]:
        """Tokens of an organization, newest first (created_at, then id, descending), strictly after `after`."""
        ...

    async def get(self, token_id: UUID, *, org_id: UUID | None = None) -> TokenInfo:
        """Raises TokenNotFound, also for a token of another organization than `org_id` (None: any, the operator's)."""
        ...

    async def revoke(self, token_id: UUID, now: datetime, event: AuditEvent | None = None) -> TokenInfo:
        """Marks a token revoked (idempotent: a revoked token keeps its first revocation time; the event is written
        only by the revocation that took effect). Raises TokenNotFound."""
        ...

    async def find(self, secret_hash: bytes) -> TokenInfo | None:
        """The token whose secret hashes to `secret_hash`, revoked or not; None when there is none."""
        ...

    async def touch(self, token_id: UUID, now: datetime) -> None:
        """Sets `last_used_at` to `now` unless it was set less than a minute before `now`."""
        ...

    async def organization_name(self, org_id: UUID) -> str | None: ...

    async def find_organization(self, name: str) -> UUID | None:
        """The id of the organization of that name; None when there is none."""
        ...

    async def organization_id(self, name: str, *, new_id: UUID, now: datetime) -> UUID:
        """The id of the organization of that name, created with `new_id` when it is new (a sign-in names it)."""
        ...


class IdentityClaims(msgspec.Struct, frozen=True, kw_only=True):
    """What a verified sign-in token of an identity provider says of its holder."""

    org_name: str
    user_id: str
    role: Role
    expires_at: datetime | None = None


class IdentityProvider(Protocol):
    """Sign-in tokens (JWTs) of an identity provider the deployment trusts."""

    def accepts(self, token: str) -> bool:
        """Whether `token` is shaped as one of its tokens (three base64url parts), decided without IO."""
        ...

    async def verify(self, token: str) -> IdentityClaims | None:
        """The claims of a token whose signature, `exp`, `nbf`, `iss` and `aud` hold and which names an organization,
        a user and a role; None otherwise. Never blocks the event loop (a JWKS fetch runs in a thread)."""
        ...


class AgentRepository(Protocol):
    async def add(self, agent: Agent) -> Agent:
        """Stores a new agent; returns it with the `number` storage assigned."""
        ...

    async def get(self, org_id: UUID, agent_id: UUID) -> Agent:
        """Raises AgentNotFound, also for an agent of another organization."""
        ...

    async def get_for_update(self, org_id: UUID, agent_id: UUID) -> Agent:
        """As `get`, and holds the agent until the unit of work ends: writers of one agent and its versions queue
        here (and in `BlueprintRepository.lock_for_new_version`), so status changes and compilations never race."""
        ...

    async def update(self, agent: Agent) -> None: ...

    async def page(
        self, org_id: UUID, *, statuses: Collection[AgentStatus], limit: int, after: AgentKey | None
    ) -> list[Agent]:
        """Newest first (created_at, then id, descending), strictly after `after`."""
        ...

    async def search(self, org_id: UUID, query: str, *, limit: int) -> list[Agent]:
        """Agents whose name contains `query`, ignoring case; deleted agents excluded; newest first."""
        ...


class BlueprintRepository(Protocol):
    """Versions of an agent the caller has already loaded through its organization."""

    async def lock_for_new_version(self, org_id: UUID, agent_id: UUID) -> tuple[Agent, int]:
        """The agent, held as by `AgentRepository.get_for_update`, and the number its next version gets (1 + the
        highest): the lock makes the number the writer's own until the unit of work ends. Raises AgentNotFound."""
        ...

    async def lock_with_version(
        self, org_id: UUID, agent_id: UUID, version_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None]:
        """The agent, held as by `AgentRepository.get_for_update`, and its version `version_id` (None: not one of
        its versions), read once the lock is held. Raises AgentNotFound."""
        ...

    async def add(self, version: BlueprintVersion) -> None: ...

    async def get(self, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        """Raises BlueprintNotFound, also for a version of another agent."""
        ...

    async def of_agent(self, org_id: UUID, agent_id: UUID, version_id: UUID) -> BlueprintVersion:
        """As `get`, for an agent of the organization, read with it: AgentNotFound for another organization's."""
        ...

    async def record_compilation(self, version: BlueprintVersion) -> None:
        """Stores the compilation fields of a version; nothing else of a version ever changes."""
        ...

    async def latest(
        self, agent_id: UUID, *, before: int | None = None, status: CompilationStatus | None = None
    ) -> BlueprintVersion | None:
        """The newest version numbered below `before` (any, when None), of that status when given."""
        ...

    async def get_many(self, agent_id: UUID, version_ids: Sequence[UUID]) -> list[BlueprintVersion]:
        """Those of the agent's versions, newest first; ids not of the agent are left out."""
        ...

    async def agent_with_versions(
        self, org_id: UUID, agent_id: UUID
    ) -> tuple[Agent, BlueprintVersion | None, BlueprintVersion | None]:
        """The agent as `AgentRepository.get` reads it (AgentNotFound), with its active version and its newest (None
        when it has none), in one round trip."""
        ...

    async def summaries(
        self,
        org_id: UUID,
        agent_id: UUID,
        *,
        limit: int,
        before: int | None,
        conversation_id: str | None = None,
        status: CompilationStatus | None = None,
    ) -> list[VersionSummary]:
        """Newest first, version numbers below `before`, filtered by conversation and status when given; summaries,
        without documents or prompts. It checks the agent itself, in the same
        round trip: AgentNotFound unless the organization has it (deleted ones too)."""
        ...

    async def live_prompt(self, org_id: UUID, agent_id: UUID, label: str) -> LivePrompt | None:
        """The compiled prompt `label` points at, of an active agent of the organization; None otherwise. Production
        is the active version, `latest` the newest compiled one. The hot path when the live cache misses."""
        ...

    async def stats(self, org_id: UUID) -> CompilationStats:
        """Counts over the organization's agents that are not deleted."""
        ...


class LabelRepository(Protocol):
    """Labels other than `production` (the agent's current_blueprint_id) and `latest` (derived), and the history of
    every label's moves, production's included. Reached through an agent already loaded through its organization;
    writers hold the agent (`AgentRepository.get_for_update`)."""

    async def all(self, agent_id: UUID) -> list[Label]:
        """The stored labels, by name."""
        ...

    async def get(self, agent_id: UUID, name: str) -> Label | None: ...

    async def put(self, label: Label) -> None:
        """Creates or replaces the label of that name."""
        ...

    async def delete(self, agent_id: UUID, name: str) -> None: ...

    async def add_move(self, move: LabelMove) -> None: ...

    async def last_moves(self, agent_id: UUID) -> dict[str, LabelMove]:
        """The newest history entry of each label of the agent that has one."""
        ...

    async def history(self, agent_id: UUID, name: str, *, limit: int, before: int | None) -> list[LabelMove]:
        """Newest first, entries numbered below `before`."""
        ...


class AuditLog(Protocol):
    async def record(self, event: AuditEvent) -> None: ...

    async def page(
        self,
        org_id: UUID,
        *,
        limit: int,
        after: AuditKey | None,
        agent_id: UUID | None = None,
        action: Action | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """The organization's events, newest first (occurred_at, then id, descending), strictly after `after`; only
        those of the agent (its versions' and labels' too), the action and the actor given, at or after `since` and
        before `until`. Each page is one index range, however long the trail."""
        ...

    async def purge(self, *, before: datetime, limit: int) -> int:
        """Forgets up to `limit` events, of any organization, that occurred before `before`; returns how many."""
        ...


class IdempotencyLog(Protocol):
    """First answers to Idempotency-Keys, per organization, written in the unit of work of what they created."""

    async def find(self, org_id: UUID, key: str, *, since: datetime) -> StoredResponse | None:
        """The answer stored for the key after `since`; older ones are forgotten."""
        ...

    async def save(self, org_id: UUID, key: str, stored: StoredResponse, *, since: datetime) -> None:
        """Raises ConcurrentUpdate when another request stored an answer for the key after `since` meanwhile."""
        ...

    async def purge(self, *, before: datetime, limit: int) -> int:
        """Forgets up to `limit` answers, of any organization, stored at or before `before`; returns how many."""
        ...


class UsageRepository(Protocol):
    """What each organization stores, counted for its quotas (domain/quotas.py) as the use cases write it: agents
    not deleted, versions, their documents' bytes."""

    async def of(self, org_id: UUID) -> Usage:
        """The organization's usage as committed, with this unit of work's own additions; read without a lock, so
        writers that check it at the same moment may together pass a quota by what they add."""
        ...

    async def add(self, org_id: UUID, agent_id: UUID, *, agents: int = 0, versions: int = 0,
                  stored_bytes: int = 0) -> None:  # fmt: skip
        """Adds to the organization's counts (negative numbers take away); `agent_id` is the agent written, so that
        writers of different agents rarely wait for each other. May be sent with the commit."""
        ...


class WebhookRepository(Protocol):
    """An organization's webhook endpoints, the outbox of their events, and the delivery log."""

    async def add(self, endpoint: Endpoint) -> None: ...

    async def get(self, org_id: UUID, endpoint_id: UUID, *, for_update: bool = False) -> Endpoint:
        """Raises WebhookNotFound, also for an endpoint of another organization. `for_update` holds it until the
        unit of work ends."""
        ...

    async def update(self, endpoint: Endpoint) -> None: ...

    async def delete(self, endpoint_id: UUID) -> None:
        """The endpoint and its delivery log; waits for a delivery of it in flight to be settled."""
        ...

    async def page(self, org_id: UUID, *, limit: int, after: WebhookKey | None) -> list[Endpoint]:
        """Newest first (created_at, then id, descending), strictly after `after`."""
        ...

    async def enqueue(self, event: WebhookEvent, *, now: datetime, endpoint_id: UUID | None = None) -> None:
        """Writes the event and one delivery, due at `now`, to each enabled endpoint of its organization subscribed
        to its type; with `endpoint_id`, to that endpoint only, whatever it subscribes to. Nothing is written when no
        endpoint gets it."""
        ...

    async def deliveries(self, endpoint_id: UUID, *, limit: int, before: int | None) -> list[Delivery]:
        """The endpoint's delivery log, newest first (by seq), seqs below `before`."""
        ...

    async def get_delivery(self, endpoint_id: UUID, delivery_id: UUID) -> Delivery:
        """Raises DeliveryNotFound, also for a delivery of another endpoint."""
        ...

    async def update_delivery(self, delivery: Delivery) -> None: ...

    async def purge_log(self, *, before: datetime, limit: int) -> int:
        """Forgets up to `limit` settled deliveries (delivered or failed), of any organization, queued before
        `before`, and the events no delivery is left for; returns how many deliveries. Pending ones are kept."""
        ...


class DueDelivery(msgspec.Struct, frozen=True, kw_only=True):
    delivery: Delivery
    endpoint: Endpoint
    event: WebhookEvent


class ClaimedDeliveries(Protocol):
    """Deliveries no other worker attempts until the claim ends (the block is left): each of a different endpoint,
    its oldest due one, so an endpoint that answers gets its events in order."""

    @property
    def due(self) -> list[DueDelivery]: ...

    async def settle(self, delivery: Delivery, *, now: datetime) -> datetime | None:
        """Stores the delivery after its attempt. Delivered: its endpoint is healthy again and its other pending
        deliveries are due at once (it answers again: no need to wait out their backoff). Not delivered: the endpoint
        is failing since its first failure after its last success, which is returned."""
        ...

    async def disable(self, endpoint_id: UUID, reason: str, event: AuditEvent) -> None:
        """Disables an enabled endpoint, with the audit event saying so."""
        ...


class WebhookOutbox(Protocol):
    """The deliveries the running service attempts; outside any unit of work (a claim holds its own)."""

    def claim(self, *, now: datetime, limit: int) -> AbstractAsyncContextManager[ClaimedDeliveries]:
        """Up to `limit` due deliveries (pending, next attempt at or before `now`; to an enabled endpoint, or a test
        event), oldest first, at most one per endpoint and none of an endpoint another claim holds one of. Whatever was
        not settled when the block is left is attempted again (a crash loses nothing)."""
        ...

    async def wait(self, timeout_s: float) -> None:
        """Returns when deliveries may have been queued since the last call (by this process, or by another one
        where storage can tell), or after `timeout_s`."""
        ...


class WebhookSender(Protocol):
    """Sends one signed webhook request (Standard Webhooks) and says what came back; never raises for the
    receiver's failures."""

    async def send(
        self, url: str, *, message_id: str, timestamp: datetime, body: bytes, secrets: tuple[str, ...]
    ) -> Outcome: ...


class UnitOfWork(Protocol):
    """One transaction: everything done through it is kept by `commit()`, and dropped when the block is left
    without it (or by an exception). A read-only one (`uow(read_only=True)`) cannot commit; each of its reads sees
    what was committed when it began (as in a transaction at READ COMMITTED), and it costs no round trip to begin or
    to end."""

    @property
    def agents(self) -> AgentRepository: ...
    @property
    def versions(self) -> BlueprintRepository: ...
    @property
    def labels(self) -> LabelRepository: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def idempotency(self) -> IdempotencyLog: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def usage(self) -> UsageRepository: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class ArchiveSnapshot(Protocol):
    """One organization as one consistent read; times in UTC."""

    @property
    def organization(self) -> "OrganizationRecord": ...
    @property
    def counts(self) -> "ArchiveCounts": ...
    def records(self) -> AsyncGenerator["ArchiveRecord", None]:
        """Agents by number; versions by agent number, then version; labels by agent number, then name (code point
        order); label moves by agent number, name and seq; audit events oldest first (occurred_at, then id). Read a
        batch at a time, never all at once. Raises ExportRefused for a row the records cannot hold."""
        ...


class OrganizationArchive(Protocol):
    """An organization's stored data, read and written whole (`org-agents export|import`). Never its tokens."""

    def snapshot(self, org_name: str) -> AbstractAsyncContextManager[ArchiveSnapshot]:
        """Raises UnknownOrganization."""
        ...

    async def load(self, organization: "OrganizationRecord", org_name: str, records: Iterator["ArchiveRecord"]) -> UUID:
        """Stores every record (in the order of `ArchiveSnapshot.records`) with its ids and numbers into the
        organization named `org_name`, created as `organization` when no organization has that name, in one
        transaction that commits only once `records` is exhausted; anything `records` raises drops it all. What is
        loaded is counted as the organization's usage (UsageRepository), a document by its text in the record. Returns
        the organization's id. Raises ImportRefused when that organization has agents or an id is taken."""
        ...
