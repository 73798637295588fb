"""The HTTP webhook sender (adapters/webhook_sender.py) against real receivers on loopback: Standard Webhooks'
headers, checked by the `standardwebhooks` package; private targets refused before any request; timeouts, redirects,
long answers, Retry-After and refused connections, each an Outcome and never an exception or a hang."""

import asyncio
import base64
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Final

import msgspec
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.webhook_sender import USER_AGENT, HttpWebhookSender
from domain.webhooks import MAX_RESPONSE_EXCERPT, MAX_RESPONSE_READ, Outcome
from tests.receivers import Receiver, http_sender, receiver

pytestmark = pytest.mark.anyio

SECRET: Final = "whsec_" + base64.b64encode(b"k" * 24).decode()
OLD_SECRET: Final = "whsec_" + base64.b64encode(b"o" * 24).decode()
BODY: Final = msgspec.json.encode({"type": "agent.created", "timestamp": "2026-01-01T12:00:00Z", "data": {"n": "é"}})
TIMEOUT_S: Final = 0.3


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    async with http_sender(allow_private=True, timeout_s=TIMEOUT_S) as made:
        yield made


@pytest.fixture
async def strict() -> AsyncIterator[HttpWebhookSender]:
    """A sender as production runs it: private targets refused."""
    async with http_sender(allow_private=False, timeout_s=TIMEOUT_S) as made:
        yield made


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as made:
        yield made


async def send(
    sender: HttpWebhookSender, url: str, *, secrets: tuple[str, ...] = (SECRET,), message_id: str = "msg_1"
) -> Outcome:
    return await sender.send(url, message_id=message_id, timestamp=datetime.now(UTC), body=BODY, secrets=secrets)


async def answered(hook: Receiver, count: int) -> None:
    """Yields to the loop until the receiver has answered `count` requests; fails after a deadline."""
    deadline = time.monotonic() + 5
    while hook.attempts < count:
        assert time.monotonic() < deadline, f"{hook.attempts} requests answered, not {count}"
        await asyncio.sleep(0.01)


@contextmanager
def redirecting_to(target: str, status: int) -> Iterator[str]:
    """A server on loopback that answers every POST with a redirect to `target`; its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(status)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/moved"
    finally:
        server.shutdown()
        server.server_close()


# -- what a receiver gets ---------------------------------------------------------------------------------------


async def test_a_request_carries_standard_webhooks_headers_that_standardwebhooks_verifies(
    sender: HttpWebhookSender, hook: Receiver
) -> None:
    sent_at = datetime.now(UTC)

    outcome = await sender.send(
        f"{hook.url}?source=org-agents", message_id="msg_2hR", timestamp=sent_at, body=BODY, secrets=(SECRET,)
    )

    assert (outcome.status_code, outcome.error, outcome.delivered) == (204, None, True)
    [got] = hook.wait_for(1)
    assert (got.path, got.body) == ("/hook?source=org-agents", BODY)
    assert got.headers["webhook-id"] == "msg_2hR"
    assert got.headers["webhook-timestamp"] == str(int(sent_at.timestamp()))
    assert got.headers["webhook-signature"].startswith("v1,")
    assert (got.headers["content-type"], got.headers["user-agent"]) == ("application/json", USER_AGENT)
    assert got.headers["host"] == f"127.0.0.1:{hook.port}"
    assert got.verified(SECRET) == msgspec.json.decode(BODY)
    assert Webhook(SECRET).verify(got.body, got.headers) == msgspec.json.decode(BODY)
    with pytest.raises(WebhookVerificationError):
        got.verified(OLD_SECRET)


async def test_a_signature_covers_the_id_the_timestamp_and_the_body(sender: HttpWebhookSender, hook: Receiver) -> None:
    await send(sender, hook.url)
    [got] = hook.wait_for(1)

    for tampered in (
        {**got.headers, "webhook-id": "msg_other"},
        {**got.headers, "webhook-timestamp": str(int(got.headers["webhook-timestamp"]) - 1)},
    ):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(got.body, tampered)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body.replace(b"agent.created", b"agent.updated"), got.headers)


async def test_with_two_secrets_each_one_alone_verifies(sender: HttpWebhookSender, hook: Receiver) -> None:
    await send(sender, hook.url, secrets=(SECRET, OLD_SECRET))

    [got] = hook.wait_for(1)
    assert [s[:3] for s in got.headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]
    assert got.verified(SECRET) == got.verified(OLD_SECRET) == msgspec.json.decode(BODY)


async def test_a_name_is_resolved_and_sent_its_own_host_header(sender: HttpWebhookSender, hook: Receiver) -> None:
    outcome = await send(sender, f"http://localhost:{hook.port}/hook")

    assert outcome.delivered
    [got] = hook.wait_for(1)
    assert got.headers["host"] == f"localhost:{hook.port}"


# -- targets that are refused -----------------------------------------------------------------------------------


PRIVATE_TARGETS: Final = (
    "http://127.0.0.1:{port}/hook",
    "https://127.0.0.1:{port}/hook",
    "https://localhost:{port}/",
    "http://localhost:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://2130706433:{port}/hook",  # 127.0.0.1 as one number: a name to the URL rules, loopback once resolved
    "http://0x7f000001:{port}/hook",
    "http://127.1:{port}/hook",
)


async def test_a_private_target_is_refused_without_a_request_unless_allowed(
    strict: HttpWebhookSender, sender: HttpWebhookSender, hook: Receiver
) -> None:
    for target in PRIVATE_TARGETS:
        outcome = await send(strict, target.format(port=hook.port))

        assert (outcome.status_code, outcome.delivered) == (None, False), target
        assert outcome.error is not None
        assert "loopback, private or link-local" in outcome.error, target
    assert hook.attempts == 0
    assert (await send(sender, PRIVATE_TARGETS[0].format(port=hook.port))).delivered  # allowed, it is reached


async def test_a_name_that_does_not_resolve_is_an_error(sender: HttpWebhookSender) -> None:
    outcome = await send(sender, "https://no-such-host.invalid/hook")

    assert outcome.status_code is None
    assert outcome.error is not None
    assert "no-such-host.invalid" in outcome.error


# -- answers that are not a quick 2xx ---------------------------------------------------------------------------


async def test_a_receiver_slower_than_the_timeout_is_an_error_not_a_hang(
    sender: HttpWebhookSender, hook: Receiver
) -> None:
    hook.delay_s = TIMEOUT_S * 3
    started = time.monotonic()

    outcome = await send(sender, hook.url)

    took = time.monotonic() - started
    assert (outcome.status_code, outcome.error) == (None, f"no answer within {TIMEOUT_S:g} s")
    assert took < TIMEOUT_S * 2
    hook.delay_s = 0
    await answered(hook, 1)  # the slow answer, to a connection closed meanwhile, is written during this test
    assert (await send(sender, hook.url)).delivered


async def test_a_redirect_is_not_followed(sender: HttpWebhookSender, hook: Receiver) -> None:
    for status in (301, 302, 303, 307, 308):
        with redirecting_to(hook.url, status) as url:
            outcome = await send(sender, url)

        assert (outcome.status_code, outcome.delivered) == (status, False)
    assert hook.attempts == 0


async def test_an_error_status_is_its_outcome(sender: HttpWebhookSender, hook: Receiver) -> None:
    statuses = (400, 404, 410, 500, 503)
    for status in statuses:
        hook.status, hook.body = status, b"nope"

        outcome = await send(sender, hook.url)

        assert (outcome.status_code, outcome.response, outcome.delivered, outcome.error) == (
            status,
            "nope",
            False,
            None,
        )
    assert (hook.attempts, hook.received) == (len(statuses), [])


ANSWERS: Final = (
    # more than is ever read; not much more, so the receiver has written it all when the sender hangs up
    (b"z" * (MAX_RESPONSE_READ + 4096), "z" * MAX_RESPONSE_EXCERPT),
    (b"a" * (3 * MAX_RESPONSE_EXCERPT), "a" * MAX_RESPONSE_EXCERPT),
    ("é".encode() * (2 * MAX_RESPONSE_EXCERPT), "é" * MAX_RESPONSE_EXCERPT),
    (b"\xff\xfe ok", "\ufffd\ufffd ok"),
)


async def test_a_long_answer_is_cut_to_the_excerpt(sender: HttpWebhookSender, hook: Receiver) -> None:
    for body, kept in ANSWERS:
        hook.status, hook.body = 500, body

        outcome = await send(sender, hook.url)

        assert (outcome.status_code, outcome.response) == (500, kept)


RETRY_AFTERS: Final = (
    ("120", 120.0),
    ("0", 0.0),
    ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # an HTTP date is not honoured
    ("soon", None),
    ("\u00b2", None),  # sent as the byte 0xb2, read as "²": a digit to str.isdigit(), not to float()
    (None, None),
)


async def test_retry_after_is_read_in_seconds(sender: HttpWebhookSender, hook: Receiver) -> None:
    for header, seconds in RETRY_AFTERS:
        hook.status, hook.retry_after = 429, header

        outcome = await send(sender, hook.url)

        assert (outcome.status_code, outcome.retry_after_s) == (429, seconds), header


async def test_a_refused_connection_is_an_error(sender: HttpWebhookSender, hook: Receiver) -> None:
    hook.down()

    outcome = await send(sender, hook.url)

    assert (outcome.status_code, outcome.delivered) == (None, False)
    assert outcome.error is not None
    assert "Connect" in outcome.error
    hook.up()
    assert (await send(sender, hook.url)).delivered  # the same URL, once it listens again
