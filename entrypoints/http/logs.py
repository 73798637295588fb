"""One structured line per request: method, route template, status, duration, request id. Never a token or body."""

import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable
from typing import Final

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.metrics import count_routed

log = logging.getLogger("org_agents.access")

REQUEST_ID: Final = b"x-request-id"
ACCEPTABLE_ID: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class AccessLine(msgspec.Struct, frozen=True, omit_defaults=True):
    method: str
    route: str
    status: int
    duration_ms: float
    request_id: str
    from_memory: bool = False  # written (as true) only for answers the hot path sent from the live cache


_encode = msgspec.json.Encoder().encode


class _RequestIds:
    """32 hex digits: a random prefix per process (made again in each forked worker) and a counter. As unique as a
    uuid4 for a log, without a system call for randomness per request (a uuid4 was 5 % of the hot path)."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = uuid.uuid4().hex[:16]
        self._counter = itertools.count()

    def new(self) -> bytes:
        return f"{self._prefix}{next(self._counter):016x}".encode()


_ids = _RequestIds()


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The caller's X-Request-ID when it is sane, else a new one."""
    given = next((value for name, value in headers if name == REQUEST_ID), b"")
    return given if ACCEPTABLE_ID.fullmatch(given) else _ids.new()


def log_access(
    method: str, route: str, status: int, started: float, request_id: bytes, *, from_memory: bool = False
) -> None:
    if log.isEnabledFor(logging.INFO):
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        line = AccessLine(method, route, status, duration_ms, request_id.decode(), from_memory)
        log.info(_encode(line).decode())


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
            route, method = scope.get("path_template") or "(no route)", str(scope.get("method", "?"))
            log_access(method, route, status, started, request_id)
            count_routed(method, route, status, time.perf_counter() - started)

    return middleware
