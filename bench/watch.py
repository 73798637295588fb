"""(i) A label's move fanned out to watches held on two instances; (j) what idle watches cost the hot path.

A watch is `GET …/prompt?label=L&wait=S` with If-None-Match: serve holds it while L names that version. Each watch
needs a connection of its own, so the clients here are raw HTTP/1.1 on asyncio (uvloop) protocols that only note
when an answer is complete: 1,000 answers at once must not queue behind a client library's parsing. (j)'s idle
watches run in holder processes (`python -m bench.watch HOLD-JSON`), HOLDER_WATCHES each at most, since one
process may not open more files than RLIMIT_NOFILE's hard limit allows.
"""

import asyncio
import math
import os
import resource
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Final
from urllib.parse import urlsplit
from uuid import UUID

import msgspec
import psutil
import uvloop

from application.blueprints import MAX_WAIT_S
from bench.measure import ACCESS_LINE, RESULTS, Bench, BenchFailed, Load, median, percentile, processes
from bench.seed import WATCH_LABEL, Seeded
from tests.serving import Serving

FAN_OUT_TIMEOUT_S: Final = 10.0  # a watch not answered this long after the move counts as missed
CONNECTING: Final = 100  # connections being opened at once by one process: the listen backlogs stay short
SETTLE_TIMEOUT_S: Final = 120.0
QUIET_WINDOW_S: Final = 0.5
QUIET_CPU: Final = 0.03  # of one core, all serve processes together: nothing left to answer
# (j)'s watches are sent again as they time out, ~1/s per 60 watches; opening them keeps both cores busy
HOLDING_QUIET_CPU: Final = 0.5
HOLDER_WATCHES: Final = 5_000
# (j) opens its watches at this pace, about the rate at which they are sent again once open (20,000 / 60 s): it
# measures what held watches cost, not a burst of them (opened all at once, they overwhelmed serve: BENCHMARKS.md)
ARM_PER_S: Final = 500
HOLDER_IDS: Final = "idle-watch-"  # the X-Request-ID of every watch a holder sends starts with this
AT_ONCE_S: Final = 1.0  # a 304 sooner than this was not held (the shortest wait asked for is FIRST_WAIT_S[0])
FIRST_WAIT_S: Final = (5, MAX_WAIT_S)  # (j)'s first waits, spread evenly, so that re-arms come steadily
AT_ONCE_BACKOFF_S: Final = 1.0  # a watch answered at once is sent again after this, as a polite client would
FILES_SPARE: Final = 256  # open files a process needs besides its connections


class Answer(msgspec.Struct, frozen=True):
    status: int
    etag: str | None
    at: float  # perf_counter() when the whole answer had arrived


class Exchange(asyncio.Protocol):
    """One keep-alive connection, one request at a time; the answer is parsed only as far as its status, ETag and
    length (Content-Length: what serve sends)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # bytes of the whole answer, once its head is in
        self.head: tuple[int, str | None] = (0, None)
        self.answer: asyncio.Future[Answer] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            status = int(lines[0].split(" ", 2)[1])
            length = 0 if status == 304 else int(headers.get("content-length", "0"))
            self.need, self.head = end + 4 + length, (status, headers.get("etag"))
        if len(self.buffer) >= self.need and self.answer is not None and not self.answer.done():
            self.answer.set_result(Answer(self.head[0], self.head[1], time.perf_counter()))
            del self.buffer[: self.need]
            self.need = -1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError(f"serve closed the connection: {exc}"))

    def send(self, request: bytes) -> "asyncio.Future[Answer]":
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the connection is closed")
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(url: str, count: int, source: str | None = None) -> list[Exchange]:
    """`count` connections to serve at `url`, CONNECTING at a time, from `source` (an address of lo) if given."""
    parts, gate = urlsplit(url), asyncio.Semaphore(CONNECTING)
    host, port, loop = parts.hostname or "127.0.0.1", parts.port or 80, asyncio.get_running_loop()

    async def one() -> Exchange:
        async with gate:
            _, exchange = await loop.create_connection(Exchange, host, port, local_addr=(source, 0) if source else None)
            return exchange

    return list(await asyncio.gather(*(one() for _ in range(count))))


def watch_request(url: str, agent_id: UUID, token: str, etag: str, wait_s: int, request_id: str = "") -> bytes:
    host, named = urlsplit(url).netloc, f"X-Request-ID: {request_id}\r\n" if request_id else ""
    return (
        f"GET /org-agents/{agent_id}/prompt?label={WATCH_LABEL}&wait={wait_s} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {token}\r\nIf-None-Match: {etag}\r\n{named}\r\n"
    ).encode()


def move_request(url: str, agent_id: UUID, token: str, version: UUID) -> bytes:
    body = msgspec.json.encode({"blueprint_id": version})
    return (
        f"PUT /org-agents/{agent_id}/labels/{WATCH_LABEL} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def raise_open_files(needed: int) -> int:
    """Raises this process's soft RLIMIT_NOFILE to its hard limit (serve, started from here, inherits it); the
    limit now. BenchFailed when even the hard limit is below `needed`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 0 <= hard < needed:
        raise BenchFailed(f"RLIMIT_NOFILE's hard limit is {hard:,}; this needs {needed:,} open files")
    return hard


def connections_per_worker(served: Serving, *, established_only: bool = True) -> list[int]:
    """Connections each worker of serve holds on its port: established ones, or any but its listening socket (a
    connection its client has closed stays in CLOSE_WAIT until serve answers and closes it)."""
    port, root = urlsplit(served.url).port, psutil.Process(served.proc.pid)
    wanted = {psutil.CONN_ESTABLISHED} if established_only else None
    return [
        sum(
            bool(c.laddr) and c.laddr.port == port and c.status != psutil.CONN_LISTEN
            and (wanted is None or c.status in wanted)
            for c in worker.net_connections()
        )
        for worker in root.children() or [root]
        if "resource_tracker" not in str(worker.cmdline())
    ]  # fmt: skip


async def settled(served: Sequence[Serving], quiet_cpu: float = QUIET_CPU) -> None:
    """Returns once serve's processes together have used less than `quiet_cpu` of a core over QUIET_WINDOW_S: every
    request sent is answered or held. BenchFailed after SETTLE_TIMEOUT_S."""
    roots = [psutil.Process(one.proc.pid) for one in served]
    procs = [*roots, *(child for root in roots for child in root.children())]

    def cpu() -> float:
        return sum(t.user + t.system for t in (p.cpu_times() for p in procs))

    deadline, before = time.monotonic() + SETTLE_TIMEOUT_S, cpu()
    while True:
        await asyncio.sleep(QUIET_WINDOW_S)
        if (now := cpu()) - before < quiet_cpu * QUIET_WINDOW_S:
            return
        if time.monotonic() > deadline:
            raise BenchFailed(f"serve was still busy {SETTLE_TIMEOUT_S:.0f} s after the watches were sent")
        before = now


class LogTail:
    """Counts the answers serve's access log shows to requests whose id starts with `prefix`, from where the log
    stood when this was made; each count reads only the whole lines written since the last."""

    def __init__(self, log: Path, prefix: str) -> None:
        self.log, self.offset, self.found = log, log.stat().st_size, 0
        self.needle = f'"request_id":"{prefix}'.encode()

    def count(self) -> int:
        with self.log.open("rb") as file:
            file.seek(self.offset)
            for line in file:
                if not line.endswith(b"\n"):
                    break  # being written
                self.offset += len(line)
                self.found += ACCESS_LINE.encode() in line and self.needle in line
        return self.found


def drained(tail: LogTail, sent: int) -> float:
    """Seconds until serve's log shows an answer to each of the `sent` watches (their clients have closed them all).
    BenchFailed if that takes longer than a watch may be held, and some more."""
    started = time.monotonic()
    while (logged := tail.count()) < sent:
        if time.monotonic() - started > MAX_WAIT_S + SETTLE_TIMEOUT_S:
            raise BenchFailed(f"(j) serve's log shows {logged:,} of the {sent:,} watches sent answered")
        time.sleep(1.0)
    return round(time.monotonic() - started, 1)


# -- (i) fan-out ------------------------------------------------------------------------------------------------------


class Round(msgspec.Struct, frozen=True, kw_only=True):
    to: UUID  # the version the label was moved to
    put_ms: float  # the PUT's own time, sent to answered
    samples_ms: list[list[float]]  # per instance, each watch that got `to`: its 200 complete, after the PUT was sent
    others: dict[str, int]  # the other watches by what they got: answered before the move, another answer, none

    @property
    def all_ms(self) -> list[float]:
        return [ms for instance in self.samples_ms for ms in instance]

    def summary(self) -> tuple[float, float, float, float]:
        """(min, p50, p99, max) ms over every watch that got the new version."""
        found = self.all_ms
        return (min(found), percentile(found, 0.5), percentile(found, 0.99), max(found)) if found else (math.nan,) * 4


class FanOut(msgspec.Struct, frozen=True, kw_only=True):
    watchers: int
    workers: list[int]  # per instance
    connections: list[list[int]]  # per instance, the watches' connections each worker held
    rounds: list[Round]

    def failures(self) -> list[str]:
        """Every round in which some watch did not get the new version."""
        return [
            f"(i) round {n}: {len(r.all_ms)} of {self.watchers} watches got the new version; the others: {r.others}"
            for n, r in enumerate(self.rounds, start=1)
            if r.others or len(r.all_ms) != self.watchers
        ]


def split(total: int, parts: int) -> list[int]:
    """`total` as evenly as it goes over `parts`, the larger parts first."""
    return [total // parts + (n < total % parts) for n in range(parts)]


async def _fan_out(bench: Bench, instances: Sequence[Serving], s: Seeded, watchers: int, rounds: int) -> FanOut:
    versions = s.watched_versions
    groups = [
        await connect(served.url, n) for served, n in zip(instances, split(watchers, len(instances)), strict=True)
    ]
    (mover,) = await connect(instances[0].url, 1)
    try:
        await settled(instances)
        spread = [connections_per_worker(served) for served in instances]
        done: list[Round] = []
        for n in range(rounds):
            old, new = (versions[0], versions[1]) if n % 2 == 0 else (versions[1], versions[0])
            waiting = [
                [exchange.send(watch_request(served.url, s.watched, s.reader_token, f'"{old}"', MAX_WAIT_S))
                 for exchange in group]
                for served, group in zip(instances, groups, strict=True)
            ]  # fmt: skip
            await settled(instances)
            early = {id(answer) for w in waiting for answer in w if answer.done()}
            t0 = time.perf_counter()
            put = await asyncio.wait_for(mover.send(move_request(instances[0].url, s.watched, s.owner_token, new)),
                                         FAN_OUT_TIMEOUT_S)  # fmt: skip
            if put.status != 200 or put.etag != f'"{new}"':
                raise BenchFailed(f"(i) PUT …/labels/{WATCH_LABEL} answered {put.status}, ETag {put.etag}")
            await asyncio.wait([a for w in waiting for a in w], timeout=FAN_OUT_TIMEOUT_S - (time.perf_counter() - t0))
            samples: list[list[float]] = []
            others = Counter[str]()
            for instance in waiting:
                samples.append([])
                for answer in instance:
                    if id(answer) in early:
                        others["answered before the move"] += 1
                    elif not answer.done():
                        others["no answer"] += 1
                        answer.cancel()
                    elif answer.exception() is not None:
                        others[f"error: {answer.exception()}"] += 1
                    elif (got := answer.result()).status == 200 and got.etag == f'"{new}"':
                        samples[-1].append(round((got.at - t0) * 1000, 3))
                    else:
                        others[f"{got.status} {got.etag}"] += 1
            done.append(Round(to=new, put_ms=round((put.at - t0) * 1000, 3), samples_ms=samples, others=dict(others)))
            low, p50, p99, top = done[-1].summary()
            bench.progress(
                f"(i) round {n + 1}/{rounds}: {len(done[-1].all_ms)} of {watchers} watches got the move; min "
                f"{low:.1f} ms, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms; PUT {done[-1].put_ms:.1f} ms"
            )
            if others:
                bench.progress(f"(i) round {n + 1}: the other watches: {dict(others)}")
                break  # the connections are no longer in step with the label
    finally:
        for exchange in [mover, *(e for group in groups for e in group)]:
            exchange.close()
    return FanOut(watchers=watchers, workers=[len(c) for c in spread], connections=spread, rounds=done)


def fan_out(bench: Bench, s: Seeded) -> FanOut:
    """(i): two instances with serve's defaults on the bench's database; `watchers` split evenly between them, each
    watching the watched agent's label on a connection of its own; the label is moved by PUT on the first, and
    back in the next round."""
    raise_open_files(bench.options.watchers + FILES_SPARE)
    with (
        bench.serve("fan-out-a") as a,
        bench.serve("fan-out-b") as b,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        return runner.run(_fan_out(bench, [a, b], s, bench.options.watchers, bench.options.runs))


# -- (j) idle watches -------------------------------------------------------------------------------------------------


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """What one holder process is asked to hold."""

    url: str
    source: str  # an address of lo of its own: each has all the ephemeral ports
    agent_id: UUID
    token: str
    etag: str  # the label's version: the watches are held until their wait ends
    count: int
    first: int  # this holder's first watch's index among all, for the spread of first waits
    total: int


class Held(msgspec.Struct, frozen=True, kw_only=True):
    """A holder's counts, or their sum."""

    connections: int = 0  # open
    sent: int = 0  # watches sent
    waiting: int = 0  # a watch sent and not answered yet (at the end: closed unanswered)
    timed_out: int = 0  # answered 304 at the end of its wait: held throughout, then sent again
    at_once: int = 0  # answered 304 within AT_ONCE_S: not held (serve's maximum of watches, or its feed down)
    other: dict[str, int] = {}  # any other answer (or none), by what it was

    def __add__(self, other: "Held") -> "Held":
        others = Counter(self.other) + Counter(other.other)
        return Held(connections=self.connections + other.connections, sent=self.sent + other.sent,
                    waiting=self.waiting + other.waiting, timed_out=self.timed_out + other.timed_out,
                    at_once=self.at_once + other.at_once, other=dict(others))  # fmt: skip


def first_wait(index: int, total: int) -> int:
    """Seconds of the first wait of watch `index` of `total`: spread evenly over FIRST_WAIT_S."""
    low, high = FIRST_WAIT_S
    return low + (index * (high - low + 1)) // max(total, 1)


def outcome(status: int, took_s: float, wait_s: int) -> str:
    """What a holder's watch got: `timed_out` (304 at the end of its wait: held throughout), `at_once` (304 within
    AT_ONCE_S: not held), or `other: …` (any other answer, or a 304 between the two)."""
    if status == 304 and took_s >= 0.9 * wait_s:
        return "timed_out"
    if status == 304 and took_s < AT_ONCE_S:
        return "at_once"
    return "other: answered 304 before its timeout" if status == 304 else f"other: answered {status}"


async def _hold(hold: Hold) -> None:
    """Opens the connections, watch `first + n` at `(first + n) / ARM_PER_S` seconds after it started, and keeps a
    watch on each (sent again as each is answered); prints its counts once all are open and have sent their first
    watch (armed), then for each line read from stdin, and last once stdin has ended and it has closed them."""
    counts, exchanges, loop = Counter[str](), list[Exchange](), asyncio.get_running_loop()
    armed, started = asyncio.Event(), loop.time()

    async def keep(index: int) -> None:
        await asyncio.sleep(started + (hold.first + index) / ARM_PER_S - loop.time())
        try:
            (exchange,) = await connect(hold.url, 1, hold.source)
        except OSError as exc:
            counts[f"other: could not connect: {exc}"] += 1
            return
        finally:
            counts["armed"] += 1
            if counts["armed"] == hold.count:
                armed.set()
        exchanges.append(exchange)
        wait_s = first_wait(hold.first + index, hold.total)
        while True:
            counts["waiting"] += 1
            counts["sent"] += 1
            request_id = f"{HOLDER_IDS}{hold.first + index}-{counts['sent']}"  # serve's log names the holders' watches
            sent = time.perf_counter()
            try:
                answer = await exchange.send(
                    watch_request(hold.url, hold.agent_id, hold.token, hold.etag, wait_s, request_id)
                )
            except ConnectionError:
                counts["waiting"] -= 1
                counts["other: connection closed"] += 1
                return
            counts["waiting"] -= 1
            counts[kind := outcome(answer.status, answer.at - sent, wait_s)] += 1
            if kind != "timed_out":
                await asyncio.sleep(AT_ONCE_BACKOFF_S)
            wait_s = MAX_WAIT_S

    def report() -> None:
        other = {k.removeprefix("other: "): v for k, v in counts.items() if k.startswith("other: ")}
        held = Held(connections=sum(not e.transport.is_closing() for e in exchanges if e.transport),
                    sent=counts["sent"], waiting=counts["waiting"], timed_out=counts["timed_out"],
                    at_once=counts["at_once"], other=other)  # fmt: skip
        sys.stdout.buffer.write(msgspec.json.encode(held) + b"\n")
        sys.stdout.flush()

    tasks = [asyncio.create_task(keep(n)) for n in range(hold.count)]
    await armed.wait()
    await asyncio.sleep(0)  # the last task sends its first watch
    report()  # armed: every connection is open and its first watch sent
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        report()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for exchange in exchanges:
        exchange.close()
    await asyncio.sleep(0)  # the transports close
    report()


class Holder:
    """One holder process: `python -m bench.watch` with its Hold; its stderr goes to a log file."""

    def __init__(self, hold: Hold, log: IO[bytes]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "bench.watch", msgspec.json.encode(hold).decode()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0,
        )  # fmt: skip

    def read(self, deadline: float) -> Held:
        """The next line of counts; BenchFailed if it exits or prints none by `deadline` (monotonic)."""
        assert self.proc.stdout is not None  # noqa: S101 - Popen with stdout=PIPE
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            raise BenchFailed(f"(j) a holder of watches printed nothing (exit code {self.proc.poll()})")
        return msgspec.json.decode(line, type=Held)

    def ask(self) -> None:
        assert self.proc.stdin is not None  # noqa: S101 - Popen with stdin=PIPE
        self.proc.stdin.write(b"?\n")

    def stop(self, timeout_s: float = 30.0) -> Held | None:
        """Its last counts, once it has closed its connections and exited (None if it had stopped before)."""
        if self.proc.stdin is None or self.proc.stdin.closed:
            return None
        self.proc.stdin.close()
        try:
            return self.read(time.monotonic() + timeout_s)
        finally:
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Holders:
    def __init__(self, holders: list[Holder]) -> None:
        self.holders = holders

    def counts(self, timeout_s: float = 30.0) -> Held:
        for holder in self.holders:
            holder.ask()
        deadline = time.monotonic() + timeout_s
        return sum((holder.read(deadline) for holder in self.holders), Held())

    def close(self) -> Held:
        """Every holder's last counts, once all have closed their connections."""
        return sum((held for holder in self.holders if (held := holder.stop()) is not None), Held())


@contextmanager
def holding(bench: Bench, served: Serving, s: Seeded, total: int) -> Iterator[Holders]:
    """`total` watches of the idle agent's label held on `served`, HOLDER_WATCHES per holder process at most, each
    from an address of its own (127.0.0.2, .3, …); yields once every one is open and serve has settled."""
    counts = split(total, math.ceil(total / HOLDER_WATCHES))
    with ExitStack() as stack:
        log = stack.enter_context((RESULTS / f"{bench.stamp}-holders.log").open("ab"))
        holders = []
        for n, count in enumerate(counts):
            hold = Hold(url=served.url, source=f"127.0.0.{n + 2}", agent_id=s.idle, token=s.reader_token,
                        etag=f'"{s.idle_version}"', count=count, first=sum(counts[:n]), total=total)  # fmt: skip
            holders.append(holder := Holder(hold, log))
            stack.callback(holder.stop)  # unless closed before
        deadline = time.monotonic() + total / ARM_PER_S + SETTLE_TIMEOUT_S
        for holder in holders:
            holder.read(deadline)  # armed
        while sum(connections_per_worker(served)) < total:
            if time.monotonic() > deadline:
                raise BenchFailed(f"(j) serve accepted {sum(connections_per_worker(served)):,} of {total:,} watches")
            time.sleep(QUIET_WINDOW_S)
        asyncio.run(settled([served], HOLDING_QUIET_CPU))
        yield Holders(holders)


class IdleCost(msgspec.Struct, frozen=True, kw_only=True):
    watchers: int  # asked for: max_watchers per worker
    workers: int
    open_files: int  # RLIMIT_NOFILE of the bench and of serve
    before: Load  # the hot path, no watch held
    held: Load  # the same, with the watches
    after: Load  # no watch held again
    connections: list[int]  # the watches' connections per worker, once all were open
    armed: Held  # counts once serve had settled, before the load
    end: Held  # counts once the holders had closed their connections after the load
    orphans_s: float  # from then until serve had answered (to no one) the last watch they had left unanswered
    worker_mb: list[float]  # resident memory of each worker with the watches held
    worker_mb_before: list[float]
    opened_per_s: int = ARM_PER_S

    @property
    def per_s_without(self) -> list[float]:
        return self.before.per_s + self.after.per_s

    def ratio(self) -> float:
        return median(self.held.per_s) / median(self.per_s_without)


def idle_cost(bench: Bench, s: Seeded, prompt: str, headers: dict[str, str]) -> IdleCost:
    """(j): the hot path's load (b) on a serve of its own with serve's defaults: without watches, with
    `idle_watchers` per worker held on another agent's label, and without again."""
    o = bench.options
    files = raise_open_files(o.idle_watchers + FILES_SPARE)  # before serve starts: its workers inherit it
    with bench.serve("idle-watches") as served:
        workers = sum(p.worker for p in processes(served.proc.pid))
        total = o.idle_watchers * workers
        mb_before = [p.rss_mb for p in processes(served.proc.pid) if p.worker]
        before = bench.load(served, "(j) no watches", prompt, headers=headers)
        bench.progress(f"(j) opening {total:,} idle watches ({o.idle_watchers:,} per worker)")
        tail = LogTail(served.log, HOLDER_IDS)
        with holding(bench, served, s, total) as holders:
            armed, connections = holders.counts(), connections_per_worker(served)
            bench.progress(f"(j) {armed.waiting:,} of {total:,} watches held, {armed.at_once:,} answered at once; "
                           f"connections per worker {connections}")  # fmt: skip
            held = bench.load(served, f"(j) {total:,} watches", prompt, headers=headers)
            mb = [p.rss_mb for p in processes(served.proc.pid) if p.worker]
            end = holders.close()
        bench.progress(f"(j) after the load: {end.waiting:,} closed unanswered, {end.timed_out:,} timed out and "
                       f"were sent again, {end.at_once:,} answered at once, others {end.other}")  # fmt: skip
        orphans_s = drained(tail, end.sent)
        bench.progress(f"(j) serve answered the last watch {orphans_s} s after its client had closed it")
        after = bench.load(served, "(j) no watches again", prompt, headers=headers)
    return IdleCost(watchers=o.idle_watchers, workers=workers, open_files=files, before=before, held=held,
                    after=after, connections=connections, armed=armed, end=end, orphans_s=orphans_s,
                    worker_mb=mb, worker_mb_before=mb_before)  # fmt: skip


class Watching(msgspec.Struct, frozen=True, kw_only=True):
    fan_out: FanOut  # (i)
    idle: IdleCost  # (j)

    def failures(self) -> list[str]:
        """(i)'s: a watch that missed the move is wrong. (j)'s watches not held are a target missed, not a fault."""
        return self.fan_out.failures()


def watching(bench: Bench, s: Seeded, prompt: str, headers: dict[str, str]) -> Watching:
    return Watching(fan_out=fan_out(bench, s), idle=idle_cost(bench, s, prompt, headers))


def hold_main(argv: Sequence[str]) -> int:
    hold = msgspec.json.decode(argv[0], type=Hold)
    raise_open_files(hold.count + FILES_SPARE)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_hold(hold))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(hold_main(sys.argv[1:]))
