"""API tokens kept in process memory, with the semantics of the PostgreSQL store."""

import hmac
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from adapters.memory.unit_of_work import InMemoryStore
from application.pagination import TokenKey
from application.ports import TokenInfo
from domain.audit import AuditEvent
from domain.errors import TokenNotFound
from domain.roles import Principal

TOUCH_EVERY: timedelta = timedelta(minutes=1)


class InMemoryTokenStore:
    """Audited writes append their event to `store`'s trail, as one step, as PostgreSQL's transaction does."""

    def __init__(self, store: InMemoryStore | None = None) -> None:
        self._store = store or InMemoryStore()
        self._orgs: dict[str, UUID] = {}
        self._tokens: dict[UUID, tuple[TokenInfo, bytes]] = {}

    async def resolve(self, secret_hash: bytes) -> Principal | None:
        found = self._by_hash(secret_hash)
        if found is None or found.revoked_at is not None:
            return None
        return Principal(
            org_id=found.org_id, user_id=found.user_id, role=found.role, scope=found.scope, token_id=found.id,
            expires_at=found.expires_at,
        )  # fmt: skip

    async def issue(self, info: TokenInfo, secret_hash: bytes, event: AuditEvent | None = None) -> TokenInfo:
        async with self._store.lock:
            org_id = self._orgs.setdefault(info.org_name, info.org_id)
            stored = msgspec.structs.replace(info, org_id=org_id)
            self._tokens[info.id] = (stored, secret_hash)
            if event is not None:
                self._store.state.audit.append(msgspec.structs.replace(event, org_id=org_id))
        return stored

    async def of_org(self, org_name: str) -> list[TokenInfo]:
        return sorted(
            (info for info, _ in self._tokens.values() if info.org_name == org_name),
            key=lambda info: (info.created_at, info.id),
        )

    async def page(self, org_id: UUID, *, limit: int, after: TokenKey | None) -> list[TokenInfo]:
        found = sorted(
            (
                info
                for info, _ in self._tokens.values()
                if info.org_id == org_id
                and (after is None or (info.created_at, info.id) < (after.created_at, after.id))
            ),
            key=lambda info: (info.created_at, info.id),
            reverse=True,
        )
        return found[:limit]

    async def get(self, token_id: UUID, *, org_id: UUID | None = None) -> TokenInfo:
        entry = self._tokens.get(token_id)
        if entry is None or (org_id is not None and entry[0].org_id != org_id):
            raise TokenNotFound(token_id)
        return entry[0]

    async def find(self, secret_hash: bytes) -> TokenInfo | None:
        return self._by_hash(secret_hash)

    async def revoke(self, token_id: UUID, now: datetime, event: AuditEvent | None = None) -> TokenInfo:
        async with self._store.lock:
            if token_id not in self._tokens:
                raise TokenNotFound(token_id)
            info, hashed = self._tokens[token_id]
            if info.revoked_at is None:
                info = msgspec.structs.replace(info, revoked_at=now)
                self._tokens[token_id] = (info, hashed)
                if event is not None:
                    self._store.state.audit.append(event)
        return info

    async def touch(self, token_id: UUID, now: datetime) -> None:
        entry = self._tokens.get(token_id)
        if entry is None or entry[0].revoked_at is not None:
            return
        info, hashed = entry
        if info.last_used_at is None or info.last_used_at < now - TOUCH_EVERY:
            self._tokens[token_id] = (msgspec.structs.replace(info, last_used_at=now), hashed)

    async def organization_name(self, org_id: UUID) -> str | None:
        return next((name for name, known in self._orgs.items() if known == org_id), None)

    async def find_organization(self, name: str) -> UUID | None:
        return self._orgs.get(name)

    async def organization_id(self, name: str, *, new_id: UUID, now: datetime) -> UUID:
        return self._orgs.setdefault(name, new_id)

    def _by_hash(self, secret_hash: bytes) -> TokenInfo | None:
        for info, stored in self._tokens.values():
            if hmac.compare_digest(stored, secret_hash):
                return info
        return None
