"""API tokens: what a well-formed token request is, and how a secret is reduced to what we store."""

import hashlib
import re
from typing import Final

from domain.agents import MAX_NAME, NO_NUL, NUL
from domain.errors import Invalid, Violation

# "org-agents token": a public prefix (not a secret) that lets scanners and people recognize a leaked token.
SECRET_PREFIX: Final = "oat_"  # noqa: S105
SECRET_BYTES: Final = 32  # random bytes in a new secret: 43 URL-safe base64 characters after the prefix
# What a secret looks like: the prefix, then URL-safe base64 (as secrets.token_urlsafe writes it). Anything else is
# not one of ours, and is refused without a lookup; nothing is trimmed or normalized first.
SECRET_PATTERN: Final = SECRET_PREFIX + f"[A-Za-z0-9_-]{{1,{2 * SECRET_BYTES}}}"  # up to twice the bytes: ample

_SECRET: Final = re.compile(SECRET_PATTERN)


class InvalidTokenRequest(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [Violation(field=field, message=message)])


def is_secret(text: str) -> bool:
    return _SECRET.fullmatch(text) is not None


def secret_hash(secret: str) -> bytes:
    """SHA-256 of the secret: the only form a token is stored in. Secrets are 256 random bits, so a fast hash is
    enough; a slow password hash would only slow every request."""
    return hashlib.sha256(secret.encode()).digest()


def checked_name(field: str, value: str) -> str:
    """A non-blank identifier of at most MAX_NAME characters, with surrounding blanks removed."""
    cleaned = value.strip()
    if not cleaned:
        raise InvalidTokenRequest(field, "required, non-blank")
    if len(cleaned) > MAX_NAME:
        raise InvalidTokenRequest(field, f"at most {MAX_NAME} characters")
    if NUL in cleaned:
        raise InvalidTokenRequest(field, NO_NUL)
    return cleaned
