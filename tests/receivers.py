"""Real webhook receivers on loopback: an HTTP server in a thread that records every request it gets and answers as
told (a status, a Retry-After, a delay), and can be taken down and brought back up on the same port.

Signatures are checked as an outside receiver checks them: by the `standardwebhooks` package.
"""

import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import msgspec
from standardwebhooks import Webhook

from adapters.webhook_sender import HttpWebhookSender


class Received(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> dict[str, Any]:
        """The body, once its signature is checked with `secret` (raises WebhookVerificationError otherwise)."""
        found: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return found


class Receiver:
    """`url` stays the same across `down()` and `up()`. `status`, `retry_after` and `delay_s` say how it answers."""

    def __init__(self) -> None:
        self.status = 204
        self.retry_after: str | None = None
        self.delay_s = 0.0
        self.body = b""
        self._received: list[Received] = []
        self.attempts = 0  # every request, whatever it was answered
        self._changed = threading.Condition()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status, retry_after, answer = receiver.status, receiver.retry_after, receiver.body
                with receiver._changed:
                    receiver.attempts += 1
                if 200 <= status < 300:
                    with receiver._changed:
                        headers = {k.lower(): v for k, v in self.headers.items()}
                        receiver._received.append(Received(path=self.path, headers=headers, body=body))
                        receiver._changed.notify_all()
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(answer)))
                # one request per connection: a kept-alive one would outlive down() and still be answered
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        # serve_forever looks for shutdown() every poll_interval (0.5 s by default): down() waits that long
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="webhook receiver", daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stops listening: connections to the port are refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """The requests answered 2xx, once there are at least `count` of them (AssertionError after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self._received)} webhook requests arrived, not {count}")
                self._changed.wait(left)
            return list(self._received)


@contextmanager
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    try:
        yield made
    finally:
        made.down()


@asynccontextmanager
async def http_sender(*, allow_private: bool, timeout_s: float) -> AsyncIterator[HttpWebhookSender]:
    """The service's own sender, closed at the end."""
    made = HttpWebhookSender(allow_private=allow_private, timeout_s=timeout_s)
    try:
        yield made
    finally:
        await made.aclose()
