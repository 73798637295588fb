"""Operator use cases for API tokens (the CLI's `token create|list|revoke`); requests authenticate through them."""

import secrets
from typing import Protocol
from uuid import UUID

import msgspec

from application.live_cache import LiveCache
from application.ports import Clock, IdSource, TokenInfo, TokenStore
from domain.roles import Principal, Role
from domain.tokens import SECRET_PREFIX, checked_name, secret_hash


class TokenDeps(Protocol):
    """The part of the application's dependencies that token use cases need."""

    @property
    def tokens(self) -> TokenStore: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def ids(self) -> IdSource: ...
    @property
    def live(self) -> LiveCache: ...


class CreateToken(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str
    user_id: str
    role: Role


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    token: TokenInfo
    secret: str  # shown once, to the operator who asked for it; never stored


async def create_token(deps: TokenDeps, cmd: CreateToken) -> IssuedToken:
    """Creates the organization when the name is new; the secret exists only in the return value."""
    org_name = checked_name("org", cmd.org_name)
    user_id = checked_name("user", cmd.user_id)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    info = TokenInfo(
        id=deps.ids.new_id(),
        org_id=deps.ids.new_id(),
        org_name=org_name,
        user_id=user_id,
        role=cmd.role,
        created_at=deps.clock.now(),
    )
    stored = await deps.tokens.issue(info, secret_hash(secret))
    return IssuedToken(token=stored, secret=secret)


async def list_tokens(deps: TokenDeps, org_name: str) -> list[TokenInfo]:
    """Oldest first; an unknown organization has none."""
    return await deps.tokens.list(org_name.strip())


async def revoke_token(deps: TokenDeps, token_id: UUID) -> TokenInfo:
    """Idempotent; raises TokenNotFound."""
    return await deps.tokens.revoke(token_id, deps.clock.now())


async def authenticate(deps: TokenDeps, secret: str) -> Principal | None:
    """The principal of a live token, or None; never says whether a token exists but was revoked."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    hashed = secret_hash(secret)
    cached = deps.live.principal(hashed)
    if cached is not None:
        return cached
    ticket = deps.live.ticket()
    principal = await deps.tokens.resolve(secret)
    if principal is not None:
        deps.live.keep_principal(ticket, hashed, principal)
    return principal
