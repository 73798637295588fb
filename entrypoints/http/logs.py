"""One structured line per request: method, route template, status, duration, request id. Never a token or body."""

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("org_agents.access")

REQUEST_ID: Final = b"x-request-id"
ACCEPTABLE_ID: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class AccessLine(msgspec.Struct, frozen=True):
    method: str
    route: str
    status: int
    duration_ms: float
    request_id: str


_encode = msgspec.json.Encoder().encode


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The caller's X-Request-ID when it is sane, else a new one."""
    given = next((value for name, value in headers if name == REQUEST_ID), b"")
    return given if ACCEPTABLE_ID.fullmatch(given) else uuid.uuid4().hex.encode()


def log_access(method: str, route: str, status: int, started: float, request_id: bytes) -> None:
    if log.isEnabledFor(logging.INFO):
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        log.info(_encode(AccessLine(method, route, status, duration_ms, request_id.decode())).decode())


def access_log(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware: a caller's X-Request-ID is kept when it is sane, else one is made; it is echoed back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope["headers"])
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID, request_id)]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            route = scope.get("path_template") or "(no route)"
            log_access(str(scope.get("method", "?")), route, status, started, request_id)

    return middleware
