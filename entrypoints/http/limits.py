"""What one client may ask of a worker, checked before anything else runs (the hot path included): a request rate
per bearer credential (per client address for requests without one), failed authentications per client address, and
a deadline for sending the request's body. Refusals are 429 with `Retry-After`, or 408 for a body that stalls.

Counted in each worker's memory, as token buckets: no IO, no shared state. With N workers a client may get up to N
times the rate (the kernel spreads connections over the workers); a deployment that needs one count across
instances puts it in its proxy.
"""

import asyncio
import math
import time
from collections.abc import Callable
from typing import Final, cast

import msgspec
from litestar.exceptions import ClientException
from litestar.types import Message, Receive, ReceiveMessage, Send
from litestar.types.asgi_types import HTTPScope

from application.deps import Deps
from application.tokens import cached_principal
from entrypoints.http.auth import bearer_secret
from entrypoints.http.headers import secured
from entrypoints.http.logs import REQUEST_ID, log_access, request_id_of
from entrypoints.metrics import NO_ROUTE, count_refused

MAX_KEYS: Final = 100_000  # buckets kept per kind; past it, the full ones (the idle) are dropped
REQUEST_BURST_S: Final = 2.0  # a credential may spend this many seconds' worth of its rate at once
FAILURE_BURST_S: Final = 10.0  # likewise, for failed authentications from one address
PROBLEM: Final = b"application/problem+json"


class Buckets:
    """Token buckets by key: each refills at `rate` per second up to `burst`, and a request takes one."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, max(burst, 1.0), clock
        self._buckets: dict[object, list[float]] = {}  # key -> [tokens, when last refilled]

    def take(self, key: object) -> float:
        """0 when the key had a token (now taken), else the seconds until it will have one."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._sweep(now)
            self._buckets[key] = [self.burst - 1, now]
            return 0.0
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1:
            bucket[0] = tokens - 1
            return 0.0
        bucket[0] = tokens
        return (1 - tokens) / self.rate

    def wait(self, key: object) -> float:
        """The seconds until `key` has a token; 0 when it has one now. Nothing is taken."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = bucket[0] + (self._clock() - bucket[1]) * self.rate
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        """Forgets the buckets that have refilled (a new one is the same); if that frees too little, all of them:
        memory stays bounded, at the price of a fresh start for the busy keys."""
        refill_s = self.burst / self.rate
        self._buckets = {key: b for key, b in self._buckets.items() if now - b[1] < refill_s}
        if len(self._buckets) >= MAX_KEYS // 2:
            self._buckets.clear()


class Refusal(msgspec.Struct, frozen=True):
    status: int
    title: str
    detail: str
    code: str


_encode = msgspec.json.Encoder().encode


def too_many(wait_s: float, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = _encode(Refusal(429, "Too Many Requests", detail, "RateLimited"))
    headers = [
        (b"content-type", PROBLEM),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(wait_s))).encode()),
    ]
    return secured(headers), body


class RequestLimits:
    """One per app (per worker). `None` rates switch a limit off."""

    def __init__(
        self,
        *,
        rate: float | None,
        failure_rate: float | None,
        body_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = None if rate is None else Buckets(rate, rate * REQUEST_BURST_S, clock=clock)
        self.failures = None if failure_rate is None else Buckets(failure_rate, failure_rate * FAILURE_BURST_S,
                                                                   clock=clock)  # fmt: skip
        self.body_timeout_s = body_timeout_s
        # Credentials refused lately: a client retrying one (a runtime whose key expired) costs its address one
        # failure, not one per retry; what the limit stops is many different credentials tried from one address.
        self._refused: dict[bytes, None] = {}

    def refusal(self, deps: Deps | None, scope: HTTPScope) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
        """The 429 to send instead of answering, or None to go on."""
        if self.requests is None and self.failures is None:
            return None
        authorization = _authorization(scope)
        address = _address(scope)
        if self.failures is not None and (wait := self.failures.wait(address)):
            # Too many failed authentications from here: only a credential already known to be good goes on.
            credential = bearer_secret(authorization.decode("latin-1")) if authorization else None
            if deps is None or credential is None or cached_principal(deps, credential) is None:
                return too_many(wait, "too many failed authentications from this address; retry later")
        if self.requests is not None:
            # The credential as sent (without its scheme), so that `Bearer x` and `bearer x` share a bucket.
            key = authorization.partition(b" ")[2] if authorization else address
            if wait := self.requests.take(key):
                return too_many(wait, "too many requests for this credential; retry after Retry-After seconds")
        return None

    def watched(self, scope: HTTPScope, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """`receive` with the body's deadline, and `send` noting a 401 to a credential not refused lately as a
        failed authentication of the address (a 401 without a credential cost no lookup: it is not counted)."""
        receive = _body_in_time(receive, self.body_timeout_s)
        if self.failures is not None:
            authorization = _authorization(scope)
            if authorization:
                send = self._noting_failures(send, self.failures, authorization.partition(b" ")[2], _address(scope))
        return receive, send

    def _noting_failures(self, send: Send, failures: Buckets, credential: bytes, address: str) -> Send:
        refused = self._refused

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401 and credential not in refused:
                if len(refused) >= MAX_KEYS:
                    refused.clear()
                refused[credential] = None
                failures.take(address)
            await send(message)

        return noting


async def refuse(scope: HTTPScope, send: Send, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Sends a refusal made before routing, logged and counted as every answer is."""
    started, request_id = time.perf_counter(), request_id_of(scope["headers"])
    await send({"type": "http.response.start", "status": 429, "headers": [*headers, (REQUEST_ID, request_id)]})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    log_access(scope["method"], NO_ROUTE, 429, started, request_id)
    count_refused(scope["method"], 429)


def _authorization(scope: HTTPScope) -> bytes | None:
    """The first Authorization header, as Litestar and the hot path read it."""
    return next((value for name, value in scope["headers"] if name == b"authorization"), None)


def _address(scope: HTTPScope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


class BodyTimeout(ClientException):
    status_code = 408


def _body_in_time(receive: Receive, timeout_s: float) -> Receive:
    """The whole body must arrive within `timeout_s` of the first read of it; after its last part, `receive` is the
    server's own again (a held watch waits on it for the client to leave)."""
    deadline: float | None = None
    done = False

    async def in_time() -> ReceiveMessage:
        nonlocal deadline, done
        if done:
            return await receive()
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout(detail=f"the request body was not sent within {timeout_s:g} seconds") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            done = True
        return message

    return cast("Receive", in_time)
