"""API tokens: what a well-formed token request is, and how a secret is reduced to what we store."""

import hashlib
import re
import zlib
from typing import Final

from domain.agents import MAX_NAME, NO_NUL, NUL
from domain.errors import Invalid, Violation

# "org-agents token": a public prefix (not a secret) that lets scanners and people recognize a leaked token.
SECRET_PREFIX: Final = "oat_"  # noqa: S105
SECRET_BYTES: Final = 32  # random bytes in a new secret: 43 URL-safe base64 characters after the prefix
BODY_LENGTH: Final = 43  # len(secrets.token_urlsafe(SECRET_BYTES))
CHECKSUM_LENGTH: Final = 6  # a CRC-32 of prefix and body in base 62, as GitHub's tokens end
MAX_CREDENTIAL: Final = 8192  # characters of a bearer credential: a sign-in JWT with many claims fits; ours are 53
BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# A secret as we issue it: the prefix, 43 URL-safe base64 characters (secrets.token_urlsafe) and, since the checksum,
# CHECKSUM_LENGTH base-62 digits. Nothing is trimmed or normalized first.
_SECRET: Final = re.compile(f"{SECRET_PREFIX}([A-Za-z0-9_-]{{{BODY_LENGTH}}})((?:[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})?)")


class InvalidTokenRequest(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [Violation(field=field, message=message)])


def checksum(body: str) -> str:
    """CHECKSUM_LENGTH base-62 digits of the CRC-32 of `SECRET_PREFIX + body`: not a secret, only a way to tell a
    token we issued from junk or a typo without asking the database."""
    value = zlib.crc32((SECRET_PREFIX + body).encode())
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, len(BASE62))
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def is_secret(text: str) -> bool:
    """Whether `text` is shaped as a token we issue, decided without IO: prefix, 43 random characters and their
    checksum; or, for tokens issued before the checksum (they keep working), prefix and exactly 43 characters."""
    found = _SECRET.fullmatch(text)
    return found is not None and (not found[2] or checksum(found[1]) == found[2])


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


MAX_TOKEN_NAME: Final = 100


def checked_label(field: str, value: str) -> str:
    """A token's name, for people: as `checked_name`, at most MAX_TOKEN_NAME characters."""
    cleaned = checked_name(field, value)
    if len(cleaned) > MAX_TOKEN_NAME:
        raise InvalidTokenRequest(field, f"at most {MAX_TOKEN_NAME} characters")
    return cleaned
