"""One structured line per request: method, route template, status, duration, request id. Never a token or body."""

import asyncio
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


# A serve worker writes its access lines itself, in batches (as nginx's `access_log … buffer= flush=` does): a line
# through `logging` cost 8 µs, and the access log took 30 % of the hot path's throughput (BENCHMARKS.md). Each line
# is what `logging` would have written with the format configure_logging sets (entrypoints/settings.py).
ACCESS_PREFIX: Final = b"INFO org_agents.access: "
FLUSH_S: Final = 0.05  # a line waits at most this long to be written
MAX_BATCH: Final = 256  # lines; more are written at once


class _Batch:
    """Lines to write to one file descriptor: when MAX_BATCH wait, FLUSH_S after the first of a batch (on the event
    loop that logged it), and when the worker's lifespan ends. A worker that crashes loses at most FLUSH_S of them."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self._lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= MAX_BATCH:
            self.flush()
        elif len(lines) == 1:
            try:
                asyncio.get_running_loop().call_later(FLUSH_S, self.flush)
            except RuntimeError:  # no event loop: nothing would come back to write it
                self.flush()

    def flush(self) -> None:
        if not self._lines or self.fd is None:
            return
        data = memoryview(b"".join(self._lines))
        self._lines = []
        while data:
            data = data[os.write(self.fd, data) :]


_batch = _Batch()


def batch_access_lines(fd: int) -> None:
    """From now on, this process's access lines go to `fd` in batches, not through `logging` (serve's workers)."""
    _batch.fd = fd if log.isEnabledFor(logging.INFO) else None


def flush_access_lines() -> None:
    _batch.flush()


def log_access(
    method: str, route: str, status: int, started: float, request_id: bytes, *, from_memory: bool = False
) -> None:
    batched = _batch.fd is not None
    if not batched and not log.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    encoded = _encode(AccessLine(method, route, status, duration_ms, request_id.decode(), from_memory))
    if batched:
        _batch.write(b"%s%s\n" % (ACCESS_PREFIX, encoded))
    else:
        log.info(encoded.decode())


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
