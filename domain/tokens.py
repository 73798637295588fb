"""API tokens: what a well-formed token request is, and how a secret is reduced to what we store."""

import hashlib
from typing import Final

from domain.errors import Invalid, Violation

# "org-agents token": a public prefix (not a secret) that lets scanners and people recognize a leaked token.
SECRET_PREFIX: Final = "oat_"  # noqa: S105
MAX_NAME: Final = 255


class InvalidTokenRequest(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [Violation(field=field, message=message)])


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
    if "\x00" in cleaned:  # PostgreSQL text cannot hold it
        raise InvalidTokenRequest(field, "must not contain the NUL character (U+0000)")
    return cleaned
