"""The ports: what the use cases need from the outside world, as Protocols that adapters satisfy."""

from datetime import datetime
from typing import Protocol
from uuid import UUID

import msgspec

from domain.roles import Principal, Role


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdSource(Protocol):
    def new_id(self) -> UUID: ...


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an operator may see of a token: never the secret, never its hash."""

    id: UUID
    org_id: UUID
    org_name: str
    user_id: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None


class TokenStore(Protocol):
    """API tokens, stored only as a SHA-256 hash of the secret."""

    async def resolve(self, secret: str) -> Principal | None:
        """The principal of a live token; None for an unknown or revoked secret."""
        ...

    async def issue(self, info: TokenInfo, secret_hash: bytes) -> TokenInfo:
        """Stores a token, creating `info.org_name` as an organization (with `info.org_id`) when it is new.

        Returns the stored token, whose org_id is the existing organization's when the name was known.
        """
        ...

    async def list(self, org_name: str) -> list[TokenInfo]:
        """Tokens of an organization, oldest first; empty for an unknown organization."""
        ...

    async def revoke(self, token_id: UUID, now: datetime) -> TokenInfo:
        """Marks a token revoked (idempotent: a revoked token keeps its first revocation time).

        Raises TokenNotFound.
        """
        ...
