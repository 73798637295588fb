"""API tokens: the operator's use cases (the CLI's `token create|list|revoke`), and how a request's secret becomes a
principal, from memory when the live cache holds it."""

import secrets
from uuid import UUID

import msgspec

from application.deps import Deps
from application.ports import TokenInfo
from domain.roles import Principal, Role
from domain.tokens import SECRET_BYTES, SECRET_PREFIX, checked_name, is_secret, secret_hash


class CreateToken(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str
    user_id: str
    role: Role


class ListTokens(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str


class RevokeToken(msgspec.Struct, frozen=True, kw_only=True):
    token_id: UUID


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    token: TokenInfo
    secret: str  # shown once, to the operator who asked for it; never stored


async def create_token(deps: Deps, cmd: CreateToken) -> IssuedToken:
    """Creates the organization when the name is new; the secret exists only in the return value."""
    org_name = checked_name("org", cmd.org_name)
    user_id = checked_name("user", cmd.user_id)
    secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
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


async def list_tokens(deps: Deps, cmd: ListTokens) -> list[TokenInfo]:
    """Oldest first; an unknown organization has none."""
    return await deps.tokens.list(cmd.org_name.strip())


async def revoke_token(deps: Deps, cmd: RevokeToken) -> TokenInfo:
    """Idempotent; raises TokenNotFound. Every revocation, a repeated one too, is announced to every process (the
    store notifies), and this process forgets its cached principals at once."""
    try:
        return await deps.tokens.revoke(cmd.token_id, deps.clock.now())
    finally:
        deps.live.tokens_changed()


def _hash_of(secret: str) -> bytes | None:
    """What a secret is known by, in storage and in the live cache; None for text that is not one of ours."""
    return secret_hash(secret) if is_secret(secret) else None


def cached_principal(deps: Deps, secret: str) -> Principal | None:
    """The principal of `secret` when the live cache holds it; no IO, so the hot path asks this before any
    framework work. None means "ask `authenticate`", never "refused"."""
    hashed = _hash_of(secret)
    return None if hashed is None else deps.live.principal(hashed)


async def authenticate(deps: Deps, secret: str) -> Principal | None:
    """The principal of a live token, or None; never says whether a token exists but was revoked. From memory
    when the live cache holds it (as `cached_principal`), else one lookup, kept for next time."""
    hashed = _hash_of(secret)
    if hashed is None:
        return None
    cached = deps.live.principal(hashed)
    if cached is not None:
        return cached
    return await deps.live.principal_reads.share(hashed, lambda: _resolve(deps, hashed))


async def _resolve(deps: Deps, hashed: bytes) -> Principal | None:
    ticket, read_at = deps.live.ticket(), deps.live.now()
    principal = await deps.tokens.resolve(hashed)
    if principal is not None:
        deps.live.keep_principal(ticket, hashed, principal, read_at=read_at)
    return principal
