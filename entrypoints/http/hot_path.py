"""The hot path: `GET /org-agents/{id}/prompt` answered from the live cache before Litestar routes the request.

LLM runtimes fetch the live prompt on every conversation. When the token's principal and the agent's live prompt
are both in the live cache, the answer needs no database and no framework: this module sends it directly, with the
same status, headers and body the Litestar route (`BlueprintController.live_prompt`) sends, which the tests compare.
Anything else (a miss, no or a malformed token, an odd path, a detached cache) goes to Litestar unchanged, which
answers it, errors included. The rendered body of a version is kept by its id: a compiled version never changes.
"""

import re
import time
from typing import Final, cast
from uuid import UUID

import msgspec
from litestar.types import LifeSpanSend, Send
from litestar.types.asgi_types import HTTPScope

from application.blueprints import live_prompt_from_memory
from domain.blueprints import LivePrompt
from entrypoints.bootstrap import Services
from entrypoints.http.logs import REQUEST_ID, log_access, request_id_of
from entrypoints.http.schemas import LivePromptOut, to_out

ROUTE: Final = "/org-agents/{agent_id}/prompt"  # as Litestar logs the route's template
PROMPT_PATH: Final = re.compile(r"/org-agents/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/prompt")
BEARER: Final = b"Bearer "
RENDERED_MAX_BYTES: Final = 16 * 1024 * 1024  # rendered bodies kept per process, oldest out first


def etag_of(blueprint_id: UUID) -> str:
    """A version's prompt never changes once compiled, so the version's id is its prompt's identity."""
    return f'"{blueprint_id}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class Rendered(msgspec.Struct, frozen=True):
    etag: str
    body: bytes
    headers_200: list[tuple[bytes, bytes]]
    headers_304: list[tuple[bytes, bytes]]


_encode = msgspec.json.Encoder().encode


class RenderedBodies:
    """Answers by version id, bounded by the bytes of their bodies, oldest out first."""

    def __init__(self, max_bytes: int = RENDERED_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._by_version: dict[UUID, Rendered] = {}
        self._bytes = 0

    def of(self, live: LivePrompt) -> Rendered:
        found = self._by_version.get(live.blueprint_id)
        if found is not None:
            return found
        etag = etag_of(live.blueprint_id)
        body = _encode(to_out(live, LivePromptOut))
        common = [(b"etag", etag.encode()), (b"cache-control", b"no-cache")]
        made = Rendered(
            etag=etag,
            body=body,
            headers_200=[*common, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            headers_304=common,
        )
        while self._by_version and self._bytes + len(body) > self.max_bytes:
            self._bytes -= len(self._by_version.pop(next(iter(self._by_version))).body)
        self._by_version[live.blueprint_id] = made
        self._bytes += len(body)
        return made


RENDERED: Final = RenderedBodies()


async def answer_from_memory(services: Services, scope: HTTPScope, send: Send | LifeSpanSend) -> bool:
    """True when the request was answered here; False (nothing sent) when Litestar must answer it."""
    path = scope["path"]
    if len(path) != 55 or (found := PROMPT_PATH.fullmatch(path)) is None:
        return False
    started = time.perf_counter()
    authorization = if_none_match = None
    for name, value in scope["headers"]:  # the first of each, as Litestar reads them
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value
    if authorization is None or not authorization.startswith(BEARER):
        return False
    secret = authorization[len(BEARER) :].strip().decode("latin-1")
    live = live_prompt_from_memory(services, secret, UUID(found[1]))
    if live is None:
        return False
    answer = RENDERED.of(live)
    request_id = request_id_of(scope["headers"])
    if if_none_match is not None and matches(if_none_match.decode("latin-1"), answer.etag):
        status, headers, body = 304, answer.headers_304, b""
    else:
        status, headers, body = 200, answer.headers_200, answer.body
    respond = cast("Send", send)  # an HTTP scope's
    await respond({"type": "http.response.start", "status": status, "headers": [*headers, (REQUEST_ID, request_id)]})
    await respond({"type": "http.response.body", "body": body, "more_body": False})
    log_access("GET", ROUTE, status, started, request_id, from_memory=True)
    return True
