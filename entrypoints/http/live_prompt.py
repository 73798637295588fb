"""The answer to `GET /org-agents/{agent_id}/prompt`, written once: status, headers and body for a live prompt and an
`If-None-Match`. The Litestar route and the hot path (hot_path.py) both send exactly what `answer` returns."""

from collections.abc import Callable
from typing import Any, Final
from uuid import UUID

import msgspec
from litestar import Litestar, Request, Response
from litestar.response.base import ASGIResponse

from domain.blueprints import LivePrompt
from entrypoints.http.headers import PROMPT_CACHE_CONTROL, SECURITY
from entrypoints.http.schemas import LivePromptOut, to_out

ROUTE: Final = "/org-agents/{agent_id}/prompt"  # the route's template, as the access log names it
RENDERED_MAX_BYTES: Final = 16 * 1024 * 1024  # rendered answers kept per app (their bodies and prompts), oldest out

Headers = list[tuple[bytes, bytes]]


def etag_of(blueprint_id: UUID) -> str:
    """The version's id is the identity of its compiled prompt: the API never changes a compiled version."""
    return f'"{blueprint_id}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match asks: any listed tag, W/ or not, or "*"."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def still_current(if_none_match: str) -> Callable[[LivePrompt], bool]:
    """For a watch: whether the caller's copy (its If-None-Match) is the live prompt's version."""
    return lambda live: matches(if_none_match, etag_of(live.blueprint_id))


class Rendered(msgspec.Struct, frozen=True):
    """A live prompt's answer, rendered once: the 304 needs no body work, the 200 none but sending."""

    live: LivePrompt  # what it was rendered from: valid for exactly this prompt
    etag: str
    body: bytes
    headers_200: Headers
    headers_304: Headers
    size: int  # bytes held: the body and the prompt it was rendered from


_encode = msgspec.json.Encoder().encode


def render(live: LivePrompt) -> Rendered:
    etag = etag_of(live.blueprint_id)
    body = _encode(to_out(live, LivePromptOut))
    common = [(b"etag", etag.encode()), PROMPT_CACHE_CONTROL, *SECURITY]
    return Rendered(
        live=live,
        etag=etag,
        body=body,
        headers_200=[*common, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        headers_304=common,
        size=len(body) + len(live.compiled_system_prompt.encode()),
    )


def answer(rendered: Rendered, if_none_match: str | None) -> tuple[int, Headers, bytes]:
    if matches(if_none_match, rendered.etag):
        return 304, rendered.headers_304, b""
    return 200, rendered.headers_200, rendered.body


class Answered(Response[Any]):
    """An answer `live_prompt.answer` made, sent byte for byte as it is (the hot path sends the same)."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        super().__init__(content=None, status_code=status)
        self.answer = (status, headers, body)

    def to_asgi_response(self, app: Litestar | None, request: Request[Any, Any, Any], **_: Any) -> ASGIResponse:
        status, headers, body = self.answer
        return ASGIResponse(status_code=status, headers=[(k.decode(), v.decode()) for k, v in headers], body=body)


class RenderedAnswers:
    """One app's rendered answers by version id and label, bounded by the bytes they hold, oldest out first. A hit is
    used only for the very prompt it was rendered from; anything else (another app's data under the same id, a
    version changed behind the API's back) is rendered again."""

    def __init__(self, max_bytes: int = RENDERED_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._by_version: dict[tuple[UUID, str], Rendered] = {}  # (version, label): the label is in the body
        self._bytes = 0

    def of(self, live: LivePrompt) -> Rendered:
        key = (live.blueprint_id, live.label)
        found = self._by_version.get(key)
        if found is not None and (found.live is live or found.live == live):
            return found
        made = render(live)
        if found is not None:
            del self._by_version[key]
            self._bytes -= found.size
        while self._by_version and self._bytes + made.size > self.max_bytes:
            self._bytes -= self._by_version.pop(next(iter(self._by_version))).size
        self._by_version[key] = made
        self._bytes += made.size
        return made
