"""Anchor (i): a bare ASGI app that answers every request with the bytes and headers of one real answer of the hot
path (`GET /org-agents/{id}/prompt`), read from the file BENCH_ANSWER_FILE names: what granian itself costs."""

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import msgspec

Message = MutableMapping[str, Any]


class Answer(msgspec.Struct, frozen=True):
    """An HTTP answer as serve sent it: its status, its headers in order (but those the server adds itself), its
    body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def is_complete(self) -> bool:
        """Its Content-Length is its body's: a client reads it as serve's answer, whole."""
        lengths = [value for name, value in self.headers if name.lower() == "content-length"]
        return lengths == [str(len(self.body))]


def load(path: Path) -> Answer:
    return msgspec.json.decode(path.read_bytes(), type=Answer)


def _start(answer: Answer) -> Message:
    headers = [(name.lower().encode(), value.encode()) for name, value in answer.headers]
    return {"type": "http.response.start", "status": answer.status, "headers": headers}


# Read once per worker, at import; the bench imports this module for Answer alone, without the variable.
ANSWER = load(Path(os.environ["BENCH_ANSWER_FILE"])) if "BENCH_ANSWER_FILE" in os.environ else None
START, BODY = (_start(ANSWER), {"type": "http.response.body", "body": ANSWER.body}) if ANSWER else ({}, {})


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    """The request is not read: a GET has no body."""
    if scope["type"] == "lifespan":
        await receive()  # lifespan.startup
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})
        return
    if not ANSWER:
        raise RuntimeError("BENCH_ANSWER_FILE is not set")
    await send(START)
    await send(BODY)
