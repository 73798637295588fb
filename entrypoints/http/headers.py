"""The headers every answer carries, whichever path sends it (routed by Litestar, or sent before routing from the
live cache): no content sniffing, no referrer, and JSON that no cache keeps unless the answer says otherwise (the
live prompt says `private, no-cache`: a client may keep it and revalidate with its ETag)."""

from collections.abc import Sequence
from typing import Final

from litestar.types import Message, Scope

Headers = list[tuple[bytes, bytes]]

SECURITY: Final[Sequence[tuple[bytes, bytes]]] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE: Final = (b"cache-control", b"no-store")
PROMPT_CACHE_CONTROL: Final = (b"cache-control", b"private, no-cache")
JSON_TYPES: Final = (b"application/json", b"application/problem+json")


def secured(headers: Headers) -> Headers:
    """`headers` with the security headers it lacks; a JSON answer without a Cache-Control gets `no-store`."""
    names = {name.lower() for name, _ in headers}
    added = [header for header in SECURITY if header[0] not in names]
    if b"cache-control" not in names:
        kind = next((value for name, value in headers if name.lower() == b"content-type"), b"")
        if kind.split(b";", 1)[0].strip() in JSON_TYPES:
            added.append(NO_STORE)
    return [*headers, *added] if added else headers


async def secure(message: Message, _: Scope) -> None:
    """Litestar's `before_send` hook: it sees every answer Litestar sends, those without a route included."""
    if message["type"] == "http.response.start":
        message["headers"] = secured(list(message.get("headers", [])))
