"""API tokens kept in process memory, with the semantics of the PostgreSQL store."""

import hmac
from datetime import datetime
from uuid import UUID

import msgspec

from application.ports import TokenInfo
from domain.errors import TokenNotFound
from domain.roles import Principal


class InMemoryTokenStore:
    def __init__(self) -> None:
        self._orgs: dict[str, UUID] = {}
        self._tokens: dict[UUID, tuple[TokenInfo, bytes]] = {}

    async def resolve(self, secret_hash: bytes) -> Principal | None:
        for info, stored in self._tokens.values():
            if hmac.compare_digest(stored, secret_hash) and info.revoked_at is None:
                return Principal(org_id=info.org_id, user_id=info.user_id, role=info.role)
        return None

    async def issue(self, info: TokenInfo, secret_hash: bytes) -> TokenInfo:
        org_id = self._orgs.setdefault(info.org_name, info.org_id)
        stored = msgspec.structs.replace(info, org_id=org_id)
        self._tokens[info.id] = (stored, secret_hash)
        return stored

    async def list(self, org_name: str) -> list[TokenInfo]:
        return sorted(
            (info for info, _ in self._tokens.values() if info.org_name == org_name),
            key=lambda info: (info.created_at, info.id),
        )

    async def revoke(self, token_id: UUID, now: datetime) -> TokenInfo:
        if token_id not in self._tokens:
            raise TokenNotFound(token_id)
        info, hashed = self._tokens[token_id]
        if info.revoked_at is None:
            info = msgspec.structs.replace(info, revoked_at=now)
            self._tokens[token_id] = (info, hashed)
        return info
