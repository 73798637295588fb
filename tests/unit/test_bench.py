"""The bench's logic that could silently give wrong numbers: wrk's JSON summary, (d)'s correctness verdict, the
staleness statistics, what the access log says about who answered, and the watches' client and statistics."""

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from uuid import UUID

import pytest

from bench.measure import (
    BenchFailed,
    Load,
    Options,
    Versions,
    WriteRun,
    Writes,
    access_log,
    percentile,
    prompts_answered,
)
from bench.report import WatchResults, render
from bench.staleness import Sighting, slowest, switches
from bench.targets import stolen
from bench.watch import (
    FIRST_WAIT_S,
    FanOut,
    Held,
    IdleCost,
    LogTail,
    Round,
    Watching,
    connect,
    first_wait,
    outcome,
    split,
)
from bench.webhooks import Arrival, summary
from bench.wrk import Errors, Run, WrkFailed, parse

# wrk 4.1.0 (Debian) with bench/lua/bench.lua, verbatim: against a file server, then POSTs it answers with 501.
GET: Final = """\
Running 1s test @ http://127.0.0.1:18999/index.html
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  839.45us  11.47ms   85.86%
    Req/Sec     0.96k    76.99     1.10k    55.00%
  1904 requests in 1.00s, 347.70KB read
Requests/sec:   1902.27
Transfer/sec:    347.39KB
{"requests":1904,"duration_us":1000907,"p50_us":1970,"p99_us":4929,"errors":{"connect":0,"read":0,"write":0,\
"timeout":0,"status":0},"statuses":{}}
"""
POST: Final = """\
Running 1s test @ http://127.0.0.1:18999/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.41ms  442.65us   4.79ms   76.77%
    Req/Sec     1.39k   307.21     2.72k    95.24%
  2907 requests in 1.10s, 1.54MB read
  Non-2xx or 3xx responses: 2907
Requests/sec:   2643.82
Transfer/sec:      1.40MB
{"requests":2907,"duration_us":1099544,"p50_us":1396,"p99_us":2893,"errors":{"connect":0,"read":0,"write":0,\
"timeout":0,"status":2907},"statuses":{"501":2907}}
"""


def test_the_summary_is_read_from_the_scripts_json_in_microseconds() -> None:
    run = parse(GET)
    assert (run.requests, run.seconds, run.p50_us, run.p99_us) == (1904, 1.000907, 1970, 4929)
    assert run.per_s == pytest.approx(1902.27, abs=0.01)  # what wrk itself printed
    assert (run.socket_errors, run.errors.status, run.statuses) == (0, 0, {})


def test_statuses_counted_by_the_script_and_error_answers_are_read() -> None:
    run = parse(POST)
    assert (run.statuses, run.errors.status) == ({501: 2907}, 2907)


@pytest.mark.parametrize("output", [GET.rsplit("{", 1)[0], GET.replace('"p99_us"', '"p98_us"'), ""])
def test_output_without_the_scripts_summary_fails(output: str) -> None:
    with pytest.raises(WrkFailed):
        parse(output)


def _run(statuses: dict[int, int], connect: int = 0, read: int = 0, timeout: int = 0) -> Run:
    errors = Errors(connect=connect, read=read, write=0, timeout=timeout, status=0)
    return Run(requests=sum(statuses.values()), duration_us=2_000_000, p50_us=1, p99_us=2, errors=errors,
               statuses=statuses)  # fmt: skip


def _write(before: int, after: Versions, created: int, errors: int = 0, socket: int = 0) -> WriteRun:
    statuses = {201: created} | ({409: errors} if errors else {})
    return WriteRun(wrk=_run(statuses, read=socket), before=Versions(before, 1, before), after=after)


@pytest.mark.parametrize(
    ("versions", "gapless"),
    [
        (Versions(0, None, None), True),
        (Versions(3, 1, 3), True),
        (Versions(3, 2, 4), False),
        (Versions(3, 1, 4), False),
    ],
)
def test_versions_are_gapless_only_when_numbered_one_to_the_count(versions: Versions, gapless: bool) -> None:
    assert versions.gapless is gapless


def test_a_correct_run_may_leave_one_unacknowledged_write_per_connection() -> None:
    assert _write(10, Versions(52, 1, 52), created=10).problems(32) == []
    assert _write(10, Versions(20, 1, 20), created=10).problems(32) == []


def test_a_gap_in_the_numbers_fails() -> None:
    assert "not gapless" in " ".join(_write(10, Versions(20, 1, 21), created=10).problems(32))


def test_fewer_versions_stored_than_acknowledged_is_a_lost_write() -> None:
    assert _write(10, Versions(19, 1, 19), created=10).problems(32) == ["1 acknowledged write(s) lost: 10 answered 201"]


def test_more_unacknowledged_versions_than_connections_fail() -> None:
    assert "more than 32 connections" in " ".join(_write(10, Versions(53, 1, 53), created=10).problems(32))


@pytest.mark.parametrize(("errors", "socket"), [(1, 0), (0, 1)])
def test_any_error_answer_or_socket_error_fails(errors: int, socket: int) -> None:
    assert len(_write(10, Versions(20, 1, 20), created=10, errors=errors, socket=socket).problems(32)) == 1


def test_the_verdict_lists_every_problem_of_the_warm_up_and_of_each_run() -> None:
    good, lost = _write(0, Versions(5, 1, 5), created=5), _write(5, Versions(9, 1, 9), created=5)
    writes = Writes(connections=32, warmup=lost, runs=[good, lost])
    assert [failure.split(":")[0] for failure in writes.failures()] == ["warm-up", "run 2"]
    assert Writes(connections=32, warmup=good, runs=[good]).failures() == []


def test_staleness_of_a_change_is_its_slowest_connection() -> None:
    series = slowest("sql", "A", [[Sighting(1.0, 1), Sighting(3.0, 2)], [Sighting(2.5, 1), Sighting(0.5, 1)]])
    assert (series.samples_ms, series.polls) == ([3.0, 2.5], [2, 1])


@pytest.mark.parametrize("sightings", [[], [[]], [[Sighting(1.0, 1)], [Sighting(1.0, 1), Sighting(2.0, 1)]]])
def test_staleness_needs_every_change_polled_over_the_same_connections(sightings: list[list[Sighting]]) -> None:
    with pytest.raises(ValueError, match="same connections"):
        slowest("sql", "A", sightings)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]
    assert (percentile(values, 0.95), percentile(values, 0.5), percentile(values, 1.0)) == (95.0, 50.0, 100.0)
    assert percentile([4.0, 1.0, 3.0], 0.95) == 4.0


def test_changes_switch_back_and_forth_from_the_live_version() -> None:
    live, other = UUID(int=1), UUID(int=2)
    assert switches(live, other, 3) == [(live, other), (other, live), (live, other)]


def test_the_access_log_says_which_live_prompts_came_from_the_hot_path(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    log.write_text(
        "INFO granian: started\n"
        'INFO org_agents.access: {"method":"GET","route":"/health","status":200,"duration_ms":1.0,"request_id":"a"}\n'
        'INFO org_agents.access: {"method":"GET","route":"/org-agents/{agent_id}/prompt","status":200,'
        '"duration_ms":0.1,"request_id":"b","from_memory":true}\n'
        'INFO org_agents.access: {"method":"GET","route":"/org-agents/{agent_id}/prompt","status":200,'
        '"duration_ms":2.0,"request_id":"c"}\n'
        'INFO org_agents.access: {"method":"GET","route":\n'
    )
    assert [(entry.request_id, entry.from_memory) for entry in access_log(log)] == [
        ("a", False), ("b", True), ("c", False)
    ]  # fmt: skip
    assert prompts_answered(access_log(log)) == (2, 1)


# -- (i) and (j): the watches ------------------------------------------------------------------------------------


class _Peer(asyncio.Protocol):
    """The server's end of a connection: it takes the request and answers nothing, or hangs up at once."""

    def __init__(self, hang_up: bool, opened: list[asyncio.Transport]) -> None:
        self.hang_up, self.opened = hang_up, opened

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.opened.append(transport)
        if self.hang_up:
            transport.close()


@asynccontextmanager
async def _server(*, hang_up: bool) -> AsyncIterator[str]:
    opened: list[asyncio.Transport] = []
    server = await asyncio.get_running_loop().create_server(lambda: _Peer(hang_up, opened), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for transport in opened:
            transport.close()
        server.close()
        await server.wait_closed()


@pytest.mark.anyio
async def test_an_answer_is_complete_once_its_whole_body_is_in_and_a_304_has_none() -> None:
    async with _server(hang_up=False) as url:
        (exchange,) = await connect(url, 1)
        answer = exchange.send(b"GET / HTTP/1.1\r\n\r\n")
        exchange.data_received(b'HTTP/1.1 200 OK\r\nETag: "v2"\r\nContent-Le')  # as the bytes come in
        exchange.data_received(b"ngth: 5\r\n\r\nab")
        assert not answer.done()
        exchange.data_received(b"cde")
        assert (answer.result().status, answer.result().etag) == (200, '"v2"')

        again = exchange.send(b"GET / HTTP/1.1\r\n\r\n")  # the same keep-alive connection
        exchange.data_received(b'HTTP/1.1 304 Not Modified\r\netag: "v2"\r\ncontent-length: 5\r\n\r\n')
        assert (again.result().status, again.result().etag, again.result().at > answer.result().at) == (
            304, '"v2"', True
        )  # fmt: skip
        exchange.close()


@pytest.mark.anyio
async def test_a_connection_closed_by_serve_fails_the_answer_it_owed() -> None:
    async with _server(hang_up=True) as url:
        (exchange,) = await connect(url, 1)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(exchange.send(b"GET / HTTP/1.1\r\n\r\n"), 10)


def test_a_rounds_statistics_cover_the_watches_of_both_instances() -> None:
    found = Round(to=UUID(int=2), put_ms=5.0, samples_ms=[[30.0, 10.0], [20.0]], others={})
    assert found.summary() == (10.0, 20.0, 30.0, 30.0)
    assert all(math.isnan(value) for value in Round(to=UUID(int=2), put_ms=5.0, samples_ms=[[], []],
                                                     others={}).summary())  # fmt: skip


def test_a_round_where_some_watch_missed_the_move_fails() -> None:
    def of(samples: list[list[float]], others: dict[str, int]) -> Round:
        return Round(to=UUID(int=2), put_ms=5.0, samples_ms=samples, others=others)

    fan_out = FanOut(watchers=3, workers=[2, 2], connections=[[1, 1], [1, 0]], rounds=[
        of([[1.0, 2.0], [3.0]], {}), of([[1.0], [3.0]], {"no answer": 1}), of([[1.0], [3.0]], {}),
    ])  # fmt: skip
    assert [failure.split(":")[0] for failure in fan_out.failures()] == ["(i) round 2", "(i) round 3"]


@pytest.mark.parametrize(
    ("total", "parts", "expected"), [(1_000, 2, [500, 500]), (7, 3, [3, 2, 2]), (2, 4, [1, 1, 0, 0])]
)
def test_watches_are_split_as_evenly_as_they_go(total: int, parts: int, expected: list[int]) -> None:
    assert split(total, parts) == expected


def test_first_waits_spread_evenly_over_their_range() -> None:
    waits = Counter(first_wait(n, 20_000) for n in range(20_000))
    assert (min(waits), max(waits)) == FIRST_WAIT_S
    assert len(waits) == FIRST_WAIT_S[1] - FIRST_WAIT_S[0] + 1
    assert max(waits.values()) - min(waits.values()) <= 1


@pytest.mark.parametrize(
    ("status", "took_s", "wait_s", "kind"),
    [
        (304, 60.02, 60, "timed_out"),
        (304, 54.5, 60, "timed_out"),
        (304, 0.004, 60, "at_once"),
        (304, 30.0, 60, "other: answered 304 before its timeout"),
        (503, 0.004, 60, "other: answered 503"),
        (200, 59.0, 60, "other: answered 200"),
    ],
)
def test_a_watch_is_held_only_when_answered_at_its_timeout(status: int, took_s: float, wait_s: int, kind: str) -> None:
    assert outcome(status, took_s, wait_s) == kind


def test_holders_counts_add_up() -> None:
    one = Held(connections=2, sent=5, waiting=2, timed_out=1, at_once=2, other={"answered 503": 1})
    two = Held(connections=1, sent=1, waiting=1, other={"answered 503": 2, "answered 200": 1})
    assert one + two == Held(connections=3, sent=6, waiting=3, timed_out=1, at_once=2,
                             other={"answered 503": 3, "answered 200": 1})  # fmt: skip


def test_the_log_tail_counts_each_answer_to_the_prefix_once_and_whole_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    line = 'INFO org_agents.access: {"method":"GET","route":"/org-agents/{agent_id}/prompt","status":304,'
    log.write_text(line + '"duration_ms":1.0,"request_id":"idle-watch-0-1"}\n')  # before the tail: not counted
    tail = LogTail(log, "idle-watch-")
    with log.open("a") as file:
        file.write(line + '"duration_ms":1.0,"request_id":"idle-watch-1-2"}\n')
        file.write(line + '"duration_ms":1.0,"request_id":"c0ffee"}\n')
        file.write('WARNING something about "request_id":"idle-watch-9"\n')
        file.write(line + '"duration_ms":1.0,"request_id":"idle-watch-2-3"')  # being written
    assert tail.count() == 1
    with log.open("a") as file:
        file.write("}\n")
    assert (tail.count(), tail.count()) == (2, 2)


def _load(*per_s: float) -> Load:
    return Load(name="x", connections=64, runs=[_run({200: int(rate * 2)}) for rate in per_s])


def _watching(tops: list[float], held: int) -> Watching:
    rounds = [Round(to=UUID(int=2), put_ms=5.0, samples_ms=[[1.0, top], [2.0]], others={}) for top in tops]
    fan_out = FanOut(watchers=3, workers=[2, 2], connections=[[1, 1], [1, 0]], rounds=rounds)
    idle = IdleCost(watchers=2, workers=2, open_files=20_000, before=_load(100, 90, 110), held=_load(95, 85, 80),
                    after=_load(100, 120, 100), connections=[2, 2], armed=Held(connections=4, sent=4, waiting=held),
                    end=Held(sent=6, waiting=4, timed_out=2), orphans_s=59.0, worker_mb=[90, 95],
                    worker_mb_before=[50, 50])  # fmt: skip
    return Watching(fan_out=fan_out, idle=idle)


def test_idle_cost_is_the_held_median_over_the_median_of_every_run_without() -> None:
    assert _watching([50.0], held=4).idle.ratio() == pytest.approx(85 / 100)


def _met(watching: Watching) -> dict[str, str]:
    """The table's rows of (i) and (j): label -> Met?."""
    o = Options(duration_s=10, runs=3, warmup_s=2, connections=64, changes=50, servers=[], workers=[])
    seed, about = {"seconds": 1.0, "organizations": 3, "agents": 5, "live_agents": 1}, {"machine": "m", "software": "s"}
    results = WatchResults(started_at=datetime.now(UTC), seconds=1.0, command="c", options=o,
                           machine={**about, "code": "c"}, seed=seed, watching=watching)  # fmt: skip
    rows = [line.split(" | ") for line in render(results).splitlines() if line.startswith("| (")]
    return {row[0].removeprefix("| "): row[-1].removesuffix(" |") for row in rows}


def test_the_fan_out_target_is_met_only_when_every_rounds_slowest_watch_is_within_100_ms() -> None:
    met = _met(_watching([50.0, 99.0, 100.0], held=4))
    assert met["(i) a move reaches 3 watches on 2 instances of 2 workers: min / p50 / p99 / max ms"] == "yes"
    late = _met(_watching([50.0, 101.0, 60.0], held=4))
    assert late["(i) a move reaches 3 watches on 2 instances of 2 workers: min / p50 / p99 / max ms"] == "**no**"


def test_idle_watches_are_all_held_only_when_every_one_was_waiting_and_none_answered_at_once() -> None:
    assert _met(_watching([50.0], held=4))["(j) idle watches held, of 4"] == "yes"
    assert _met(_watching([50.0], held=3))["(j) idle watches held, of 4"] == "**no**"
    assert _met(_watching([50.0], held=4))["(j) req/s with 4 idle watches / without"] == "**no**"  # 0.85 < 0.9


T0: Final = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _arrival(path: str, event_id: str, stamped: datetime, at_s: float) -> Arrival:
    """A webhook request for `event_id` at `path`, whose body says `stamped`, read `at_s` seconds after T0."""
    body = b'{"type":"agent.created","timestamp":"%s","data":{}}' % stamped.isoformat().encode()
    return Arrival(path, event_id, T0.timestamp() + at_s, body)


def test_webhook_lag_is_each_deliverys_first_receipt_less_its_events_timestamp() -> None:
    events = {"a": T0, "b": T0 + timedelta(seconds=1)}
    arrivals = [
        _arrival("/hook/0", "a", T0, 0.010),
        _arrival("/hook/1", "a", T0, 0.020),
        _arrival("/hook/0", "b", events["b"], 1.005),
        _arrival("/hook/0", "a", T0, 3.0),  # sent again (at least once): not a delivery, not a lag
        _arrival("/hook/1", "b", events["b"], 1.500),
    ]
    run = summary("storm", events, ["/hook/0", "/hook/1"], arrivals, committed_at=T0.timestamp() + 1.001)
    assert run.lag_ms == pytest.approx([5.0, 10.0, 20.0, 500.0])
    assert (run.deliveries, run.duplicates) == (4, 1)
    assert run.drain_s == pytest.approx(1.5)  # the first event's timestamp to the last first receipt
    assert run.per_s == pytest.approx(4 / 1.5)
    assert run.offered_per_s == pytest.approx(2 / 1.001)


@pytest.mark.parametrize(
    ("arrivals", "says"),
    [
        ([_arrival("/hook/0", "a", T0, 0.1)], "1 of 2 deliveries never arrived"),
        ([_arrival("/hook/0", "a", T0, 0.1), _arrival("/hook/0", "z", T0, 0.2)], "not this run's"),
        ([_arrival("/hook/0", "a", T0, 0.1), _arrival("/hook/9", "b", T0, 0.2)], "not this run's"),
        ([_arrival("/hook/0", "a", T0, 0.1), _arrival("/hook/0", "b", T0, 0.2)], "its audit event otherwise"),
    ],
)
def test_a_webhook_run_with_a_delivery_missing_or_foreign_fails(arrivals: list[Arrival], says: str) -> None:
    events = {"a": T0, "b": T0 + timedelta(seconds=1)}
    with pytest.raises(BenchFailed, match=says):
        summary("storm", events, ["/hook/0"], arrivals, committed_at=T0.timestamp() + 1)


def test_steal_is_its_share_of_the_cpu_time_between_two_readings() -> None:
    assert stolen([1, 0, 1, 1, 0, 0, 0, 1], [11, 0, 11, 71, 0, 0, 0, 11]) == 0.1
    assert stolen([5] * 8, [5] * 8) == 0.0  # no time passed: nothing stolen, no division by zero
