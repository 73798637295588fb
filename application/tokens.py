"""API tokens: the operator's use cases (the CLI's `token create|list|revoke`), the organization's own (the API's
`/tokens`), and how a request's credential becomes a principal, from memory when the live cache holds it."""

import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from application.deps import Deps
from application.pagination import Page, TokenKey, checked_limit, decode_cursor, page_of
from application.ports import TokenInfo
from domain.audit import Action, AuditEvent
from domain.errors import RoleTooLow, TokenNotFound, UnknownOrganization
from domain.roles import Principal, Role, Scope, ensure_can_manage, ensure_manage_scope, expired
from domain.tokens import (
    SECRET_BYTES,
    SECRET_PREFIX,
    InvalidTokenRequest,
    checked_label,
    checked_name,
    checksum,
    is_secret,
    secret_hash,
)

OPERATOR = "operator"  # the actor of what the CLI does: a person at the server's shell, not a token


class ListTokens(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str


class RevokeToken(msgspec.Struct, frozen=True, kw_only=True):
    token_id: UUID


class GetToken(msgspec.Struct, frozen=True, kw_only=True):
    token_id: UUID


class MintToken(msgspec.Struct, frozen=True, kw_only=True):
    """An owner's or admin's, for their own organization."""

    user_id: str
    role: Role
    scope: Scope = Scope.MANAGE
    name: str | None = None
    expires_at: datetime | None = None


class CreateToken(MintToken, frozen=True, kw_only=True):
    """The operator's: any role in any organization, created when its name is new."""

    org_name: str


class ListOrgTokens(msgspec.Struct, frozen=True, kw_only=True):
    limit: int | None = None
    cursor: str | None = None


class RevokeSecret(msgspec.Struct, frozen=True, kw_only=True):
    secret: str


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    token: TokenInfo
    secret: str  # shown once, to whoever asked for it; never stored


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """What `/whoami` answers: who the credential stands for, in words a person recognizes."""

    org_id: UUID
    org_name: str | None
    user_id: str
    role: Role
    scope: Scope
    token_id: UUID | None  # None: a sign-in token of the identity provider
    token_name: str | None
    expires_at: datetime | None


# -- the operator's ---------------------------------------------------------------------------------------------


async def create_token(deps: Deps, cmd: CreateToken) -> IssuedToken:
    """Creates the organization when the name is new; the secret exists only in the return value."""
    org_name = checked_name("org", cmd.org_name)
    return await _issue(deps, OPERATOR, org_name, deps.ids.new_id(), cmd)


async def list_tokens(deps: Deps, cmd: ListTokens) -> list[TokenInfo]:
    """Oldest first; an unknown organization is UnknownOrganization (a typo, not an empty list)."""
    name = cmd.org_name.strip()
    if await deps.tokens.find_organization(name) is None:
        raise UnknownOrganization(name)
    return await deps.tokens.of_org(name)


async def revoke_token(deps: Deps, cmd: RevokeToken) -> TokenInfo:
    """Idempotent; raises TokenNotFound. Every revocation, a repeated one too, is announced to every process (the
    store notifies), and this process forgets its cached principals at once."""
    token = await deps.tokens.get(cmd.token_id)
    return await _revoke(deps, OPERATOR, token, how="id")


# -- the organization's -----------------------------------------------------------------------------------------


def _ensure_handles_keys(who: Principal) -> None:
    """Owners and admins, with a manage key, handle their organization's keys; members none."""
    ensure_manage_scope(who)
    ensure_can_manage(who)


def _ensure_may_handle(who: Principal, role: Role) -> None:
    """Of a key with `role`: owners handle every key, admins those of admins and members."""
    if role is Role.OWNER and who.role is not Role.OWNER:
        raise RoleTooLow(who.role.value, "owner (for an owner's token)")


async def mint_token(deps: Deps, who: Principal, cmd: MintToken) -> IssuedToken:
    _ensure_handles_keys(who)
    _ensure_may_handle(who, cmd.role)
    org_name = await deps.tokens.organization_name(who.org_id)
    if org_name is None:  # nothing deletes organizations, and the caller's token belongs to this one
        raise LookupError(f"organization {who.org_id} vanished while minting a token")
    return await _issue(deps, who.user_id, org_name, who.org_id, cmd)


async def list_org_tokens(deps: Deps, who: Principal, cmd: ListOrgTokens) -> Page[TokenInfo]:
    """Owners and admins see every token of their organization (never a secret), newest first."""
    _ensure_handles_keys(who)
    limit = checked_limit(cmd.limit)
    after = decode_cursor(cmd.cursor, TokenKey)
    rows = await deps.tokens.page(who.org_id, limit=limit + 1, after=after)
    return page_of(rows, limit, lambda token: TokenKey(created_at=token.created_at, id=token.id))


async def get_org_token(deps: Deps, who: Principal, cmd: GetToken) -> TokenInfo:
    """Owners and admins; a token of another organization is TokenNotFound."""
    _ensure_handles_keys(who)
    return await deps.tokens.get(cmd.token_id, org_id=who.org_id)


async def revoke_org_token(deps: Deps, who: Principal, cmd: RevokeToken) -> TokenInfo:
    """Idempotent; a token of another organization is TokenNotFound; an admin may not revoke an owner's token."""
    _ensure_handles_keys(who)
    token = await deps.tokens.get(cmd.token_id, org_id=who.org_id)
    _ensure_may_handle(who, token.role)
    return await _revoke(deps, who.user_id, token, how="id")


async def revoke_secret(deps: Deps, cmd: RevokeSecret) -> TokenInfo:
    """Whoever holds a secret may revoke it (a leaked key, pasted): no other credential is needed, since holding
    it already grants everything it allows. Idempotent; TokenNotFound when no token has that secret."""
    if not is_secret(cmd.secret):
        raise InvalidTokenRequest("secret", "not a token of this service (oat_ and 43 or 49 characters)")
    found = await deps.tokens.find(secret_hash(cmd.secret))
    if found is None:
        raise TokenNotFound(None)
    return await _revoke(deps, found.user_id, found, how="secret")


async def whoami(deps: Deps, who: Principal) -> Identity:
    """Any credential, any scope."""
    token = None if who.token_id is None else await deps.tokens.get(who.token_id, org_id=who.org_id)
    org_name = token.org_name if token is not None else await deps.tokens.organization_name(who.org_id)
    return Identity(
        org_id=who.org_id, org_name=org_name, user_id=who.user_id, role=who.role, scope=who.scope,
        token_id=who.token_id, token_name=None if token is None else token.name, expires_at=who.expires_at,
    )  # fmt: skip


# -- shared -----------------------------------------------------------------------------------------------------


async def _issue(deps: Deps, actor: str, org_name: str, org_id: UUID, asked: MintToken) -> IssuedToken:
    now = deps.clock.now()
    user_id = checked_name("user_id", asked.user_id)
    name = None if asked.name is None else checked_label("name", asked.name)
    if asked.expires_at is not None and asked.expires_at <= now:
        raise InvalidTokenRequest("expires_at", "must be in the future")
    body = secrets.token_urlsafe(SECRET_BYTES)
    secret = SECRET_PREFIX + body + checksum(body)
    info = TokenInfo(
        id=deps.ids.new_id(), org_id=org_id, org_name=org_name, user_id=user_id, role=asked.role,
        scope=asked.scope, name=name, expires_at=asked.expires_at, created_at=now,
    )  # fmt: skip
    details = {"user_id": user_id, "role": info.role.value, "scope": info.scope.value, "name": name}
    if info.expires_at is not None:
        details["expires_at"] = info.expires_at.isoformat()
    event = _event(deps, info.org_id, actor, Action.TOKEN_CREATE, info.id, now, details)
    stored = await deps.tokens.issue(info, secret_hash(secret), event)
    return IssuedToken(token=stored, secret=secret)


async def _revoke(deps: Deps, actor: str, token: TokenInfo, *, how: str) -> TokenInfo:
    now = deps.clock.now()
    details = {"user_id": token.user_id, "role": token.role.value, "name": token.name, "by": how}
    event = _event(deps, token.org_id, actor, Action.TOKEN_REVOKE, token.id, now, details)
    try:
        return await deps.tokens.revoke(token.id, now, event)
    finally:
        deps.live.tokens_changed()


def _event(
    deps: Deps, org_id: UUID, actor: str, action: Action, target_id: UUID, now: datetime, details: dict[str, Any]
) -> AuditEvent:
    return AuditEvent(
        id=deps.ids.new_id(), org_id=org_id, actor=actor, action=action, target_id=target_id, occurred_at=now,
        details=details,
    )  # fmt: skip


# -- authentication ---------------------------------------------------------------------------------------------


def cached_principal(deps: Deps, credential: str) -> Principal | None:
    """The principal of `credential` when the live cache holds it and it has not expired; no IO, so the hot path
    asks this before any framework work. None means "ask `authenticate`", never "refused"."""
    if not is_secret(credential) and (deps.identity is None or not deps.identity.accepts(credential)):
        return None
    return _usable(deps, deps.live.principal(secret_hash(credential)))


async def authenticate(deps: Deps, credential: str) -> Principal | None:
    """The principal of a live token or of a valid sign-in token of the identity provider, or None; never says
    whether a token exists but was revoked or expired. Junk costs no IO: a secret of ours must carry its checksum,
    and a sign-in token must be shaped as one. From memory when the live cache holds it, else one lookup (or one
    signature check), kept for next time."""
    if is_secret(credential):
        read = _resolve
    elif deps.identity is not None and deps.identity.accepts(credential):
        read = _sign_in
    else:
        return None
    hashed = secret_hash(credential)
    principal = deps.live.principal(hashed)
    if principal is None:
        principal = await deps.live.principal_reads.share(hashed, lambda: read(deps, hashed, credential))
    return _usable(deps, principal)


def _usable(deps: Deps, principal: Principal | None) -> Principal | None:
    """The principal unless it has expired, with its use noted."""
    if principal is None or expired(principal, deps.clock.now()):
        return None
    _note_use(deps, principal)
    return principal


async def _resolve(deps: Deps, hashed: bytes, credential: str) -> Principal | None:
    ticket, read_at = deps.live.ticket(), deps.live.now()
    principal = await deps.tokens.resolve(hashed)
    if principal is not None:
        deps.live.keep_principal(ticket, hashed, principal, read_at=read_at)
    return principal


async def _sign_in(deps: Deps, hashed: bytes, credential: str) -> Principal | None:
    """A JWT whose claims hold: its organization (created when new, as `token create` does), user and role, with
    scope manage, until its `exp`. Kept like a token's principal; nothing revokes it before its `exp`."""
    if deps.identity is None:
        return None
    ticket, read_at = deps.live.ticket(), deps.live.now()
    claims = await deps.identity.verify(credential)
    if claims is None:
        return None
    try:
        org_name = checked_name("org", claims.org_name)
        user_id = checked_name("user_id", claims.user_id)
    except InvalidTokenRequest:
        return None
    org_id = await deps.tokens.organization_id(org_name, new_id=deps.ids.new_id(), now=deps.clock.now())
    principal = Principal(org_id=org_id, user_id=user_id, role=claims.role, expires_at=claims.expires_at)
    deps.live.keep_principal(ticket, hashed, principal, read_at=read_at)
    return principal


def _note_use(deps: Deps, principal: Principal) -> None:
    """`last_used_at`, written after the request and at most once a minute per token and process (the store skips
    the write when another process wrote it within the minute)."""
    if principal.token_id is not None and deps.live.use_due(principal.token_id):
        deps.live.later(deps.tokens.touch(principal.token_id, deps.clock.now()))
