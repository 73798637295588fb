"""Serve's access lines, written in batches: each as `logging` would write it, none lost, none late by much."""

import asyncio
import logging
import os
import time
from collections.abc import Iterator

import pytest

from entrypoints.http import logs
from entrypoints.http.logs import MAX_BATCH, batch_access_lines, flush_access_lines, log_access
from entrypoints.settings import LOG_FORMAT

pytestmark = pytest.mark.anyio


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """Access lines batched to a pipe, as a serve worker batches them to stderr."""
    read, write = os.pipe()
    os.set_blocking(read, False)
    access = logging.getLogger("org_agents.access")
    level = access.level
    access.setLevel(logging.INFO)
    batch_access_lines(write)
    yield read, write
    flush_access_lines()
    logs._batch.fd = None
    access.setLevel(level)
    os.close(read)
    os.close(write)


def waiting(read: int) -> bytes:
    try:
        return os.read(read, 1 << 20)
    except BlockingIOError:
        return b""


def test_a_batched_line_is_what_logging_writes_with_the_services_format(pipe: tuple[int, int]) -> None:
    read, _ = pipe
    started = time.perf_counter()
    log_access("GET", "/org-agents/{agent_id}/prompt", 200, started, b"rid-1", from_memory=True)
    flush_access_lines()
    written = waiting(read)

    record = logging.LogRecord("org_agents.access", logging.INFO, __file__, 1, "%s", None, None)
    prefix = logging.Formatter(LOG_FORMAT).format(record).removesuffix("%s")
    assert written.startswith(prefix.encode())
    assert written.endswith(b',"request_id":"rid-1","from_memory":true}\n')
    assert written.count(b"\n") == 1


def test_lines_wait_for_their_batch_then_come_all_in_order(pipe: tuple[int, int]) -> None:
    read, _ = pipe

    async def logged_then_written() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        readable: asyncio.Future[None] = loop.create_future()
        for n in range(3):
            log_access("GET", "/health", 200, time.perf_counter(), f"rid-{n}".encode())
        before = waiting(read)

        def now_readable() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(read, now_readable)
        await readable  # the batch's timer writes them
        loop.remove_reader(read)
        return before, waiting(read)

    before, after = asyncio.run(logged_then_written())

    assert before == b""
    assert [line.rsplit(b'"request_id":', 1)[1] for line in after.splitlines()] == [
        b'"rid-0"}',
        b'"rid-1"}',
        b'"rid-2"}',
    ]


def test_a_full_batch_is_written_at_once(pipe: tuple[int, int]) -> None:
    read, _ = pipe

    async def logged() -> bytes:
        for n in range(MAX_BATCH):
            log_access("GET", "/health", 200, time.perf_counter(), f"rid-{n}".encode())
        return waiting(read)  # before the loop could run the batch's timer

    written = asyncio.run(logged())

    assert written.count(b"\n") == MAX_BATCH
    assert written.endswith(f'"request_id":"rid-{MAX_BATCH - 1}"}}\n'.encode())


def test_a_line_logged_outside_an_event_loop_is_written_at_once(pipe: tuple[int, int]) -> None:
    read, _ = pipe
    log_access("GET", "/health", 200, time.perf_counter(), b"rid-now")
    assert waiting(read).endswith(b'"request_id":"rid-now"}\n')


def test_without_batching_lines_go_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="org_agents.access"):
        log_access("GET", "/health", 200, time.perf_counter(), b"rid-logged")
    assert [r.getMessage().endswith('"request_id":"rid-logged"}') for r in caplog.records] == [True]
