"""One structured line per request: method, route template, status, duration, request id. Never a token or body."""

import logging
import re
import time
import uuid
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


def access_log(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware: a caller's X-Request-ID is kept when it is sane, else one is made; it is echoed back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((value for name, value in scope["headers"] if name == REQUEST_ID), b"")
        request_id = given if ACCEPTABLE_ID.fullmatch(given) else uuid.uuid4().hex.encode()
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
            if log.isEnabledFor(logging.INFO):
                line = AccessLine(
                    method=str(scope.get("method", "?")),
                    route=scope.get("path_template") or "(no route)",
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    request_id=request_id.decode(),
                )
                log.info(_encode(line).decode())

    return middleware
