"""Sign-in tokens of an identity provider: JWTs checked by PyJWT with a shared HS256 secret or a JWKS's keys."""

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt
import msgspec

from application.ports import IdentityClaims
from domain.roles import Role
from domain.tokens import MAX_CREDENTIAL

SHAPE: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # JWS compact form, unpadded base64url
HS256: Final = "HS256"
KEY_SET_ALGORITHMS: Final = frozenset({"RS256", "ES256"})  # what a JWKS key may verify: never HS*, never `none`
MIN_SECRET_BYTES: Final = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash

FETCH_TIMEOUT_S: Final = 5.0  # one JWKS request; it runs in a thread, never on the event loop
KEYS_LIFESPAN_S: Final = 300.0  # fetched keys are used this long, then fetched again
UNKNOWN_KID_COOLDOWN_S: Final = 30.0  # a token naming a key not in the set refetches it at most this often
RETRY_AFTER_FAILURE_S: Final = 5.0  # after a failed fetch, tokens are refused without asking again for this long

Key = tuple[jwt.PyJWK | bytes, str]  # a key, and the one algorithm it verifies


class InvalidKeySet(ValueError):
    """A JWKS the service cannot use; the message says why."""


class ClaimNames(msgspec.Struct, frozen=True, kw_only=True):
    """Which claims of a token name the organization, the user and the role."""

    org: str = "org"
    user: str = "sub"
    role: str = "role"


def signing_keys(jwk_set: jwt.PyJWKSet) -> dict[str, jwt.PyJWK]:
    """The keys of a set that may verify sign-in tokens, by `kid`: RS256 or ES256 (by `alg`, else by key type),
    for signatures (`use` sig or absent). A symmetric (`oct`) key in a published set is left out."""
    return {
        key.key_id: key
        for key in jwk_set.keys
        if key.key_id and key.public_key_use in {"sig", None} and key.algorithm_name in KEY_SET_ALGORITHMS
    }


class SharedSecret:
    """HS256 with a secret the deployment shares with its identity provider."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"an HS256 secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret

    async def key_for(self, kid: str | None) -> Key | None:
        return self._secret, HS256


class KeySet:
    """A JWKS given once, from a file read at startup: rotating keys means replacing the file and restarting."""

    def __init__(self, keys: Mapping[str, jwt.PyJWK]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_file(cls, path: Path) -> "KeySet":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidKeySet(f"cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise InvalidKeySet(f"{path} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidKeySet(f"{path} is not a JWKS (a JSON object with `keys`)")
        try:
            keys = signing_keys(jwt.PyJWKSet.from_dict(data))
        except jwt.PyJWTError as exc:
            raise InvalidKeySet(f"{path}: {exc}") from None
        if not keys:
            raise InvalidKeySet(f"{path} has no RS256 or ES256 signing key with a `kid`")
        return cls(keys)

    async def key_for(self, kid: str | None) -> Key | None:
        key = None if kid is None else self._keys.get(kid)
        return None if key is None else (key, key.algorithm_name)


class RemoteKeySet:
    """The JWKS at a URL, fetched by PyJWKClient in a thread and kept for `KEYS_LIFESPAN_S`. One fetch at a time:
    requests that need keys meanwhile wait for it on the event loop. When the URL cannot be reached (or answers no
    usable set), tokens are refused, and for `RETRY_AFTER_FAILURE_S` without trying again, so an outage costs
    each request nothing but a refusal."""

    def __init__(self, url: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = jwt.PyJWKClient(
            url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S, headers={"User-Agent": "org-agents"}
        )
        self._monotonic = monotonic
        self._fetching = asyncio.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None

    async def key_for(self, kid: str | None) -> Key | None:
        if kid is None:
            return None
        if (found := self._cached(kid)) is not None:
            return found
        async with self._fetching:
            if (found := self._cached(kid)) is not None:  # fetched while this request waited
                return found
            now = self._monotonic()
            if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE_S:
                return None
            if self._fetched_at is not None and now - self._fetched_at < UNKNOWN_KID_COOLDOWN_S:
                return None  # a key the set lacked a moment ago: a forgery or a typo, not yet worth a fetch
            try:
                jwk_set = await asyncio.to_thread(self._client.get_jwk_set, True)
            except (jwt.PyJWTError, ValueError, OSError):  # unreachable, an HTTP error, not JSON, no usable key
                self._failed_at = self._monotonic()
                return None
            self._keys, self._fetched_at, self._failed_at = signing_keys(jwk_set), self._monotonic(), None
            return self._cached(kid)

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < KEYS_LIFESPAN_S

    def _cached(self, kid: str) -> Key | None:
        key = self._keys.get(kid) if self._fresh(self._monotonic()) else None
        return None if key is None else (key, key.algorithm_name)


KeySource = SharedSecret | KeySet | RemoteKeySet


class JwtIdentity:
    """An identity provider's sign-in tokens. The algorithm is the key's (HS256 for the secret, RS256 or ES256 for
    a JWKS key), never the token's choice alone; `exp` is required; `nbf` and `iat` hold when present; `iss` and
    `aud` must match when configured (a token carrying `aud` is refused when no audience is). The organization,
    user and role claims must be strings, the role one of ours."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 0.0,
        claims: ClaimNames | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._claims = claims or ClaimNames()
        self._required = ["exp", *(["iss"] if issuer else []), *(["aud"] if audience else [])]

    def accepts(self, token: str) -> bool:
        return len(token) <= MAX_CREDENTIAL and SHAPE.fullmatch(token) is not None

    async def verify(self, token: str) -> IdentityClaims | None:
        if not self.accepts(token):
            return None
        try:
            kid = jwt.get_unverified_header(token).get("kid")  # which key to try; the signature decides the rest
        except (jwt.PyJWTError, ValueError):
            return None
        if kid is not None and not isinstance(kid, str):
            return None
        found = await self._keys.key_for(kid)
        if found is None:
            return None
        key, algorithm = found
        try:
            payload = jwt.decode(
                token, key, algorithms=[algorithm], issuer=self._issuer, audience=self._audience,
                leeway=self._leeway_s, options={"require": self._required, "enforce_minimum_key_length": True},
            )  # fmt: skip
        except (jwt.PyJWTError, ValueError, TypeError):  # any failure of a token is a refusal, never an error
            return None
        return self._claims_of(payload)

    def _claims_of(self, payload: Mapping[str, Any]) -> IdentityClaims | None:
        org, user, role = (payload.get(name) for name in (self._claims.org, self._claims.user, self._claims.role))
        if not (isinstance(org, str) and isinstance(user, str) and isinstance(role, str)):
            return None
        try:
            known = Role(role)
        except ValueError:
            return None
        try:  # refused from the moment PyJWT would refuse it: `exp` plus the leeway
            expires_at = datetime.fromtimestamp(int(payload["exp"]) + self._leeway_s, UTC)
        except (OverflowError, OSError, ValueError, TypeError):  # beyond what a datetime holds
            return None
        return IdentityClaims(org_name=org, user_id=user, role=known, expires_at=expires_at)
