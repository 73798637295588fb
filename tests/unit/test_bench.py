"""The bench's logic that could silently give wrong numbers: wrk's JSON summary, (d)'s correctness verdict, the
staleness statistics, and what the access log says about who answered."""

from pathlib import Path
from typing import Final
from uuid import UUID

import pytest

from bench.measure import Versions, WriteRun, Writes, access_log, percentile, prompts_answered
from bench.staleness import Sighting, slowest, switches
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
