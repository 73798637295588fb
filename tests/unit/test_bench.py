"""The bench's pure parts: reading wrk's output (captured from real runs), `serve --help`, /proc, the statistics,
the generated blueprint and the Markdown summary."""

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import UUID

import msgspec
import pytest

from bench.cache_off import CACHE_OFF_ENV, prompt_answers
from bench.compile import large_blueprint, time_compiles
from bench.machine import parse_cpu_model, parse_mem_total_gib, parse_os_name
from bench.model import (
    CacheOff,
    Comparison,
    CompileTiming,
    DatabaseFloor,
    HttpLoad,
    Machine,
    MemoryReading,
    Options,
    ProcessMemory,
    Report,
    SeedInfo,
    ServerConfig,
    Sighting,
    StalenessPhase,
    VersionCheck,
    WriteLoad,
    WriteRun,
    percentile,
    ratio_of,
    runs_of,
    staleness_of,
    write_failures,
    write_problems,
)
from bench.phases import BenchFailed, check_writes
from bench.report import render, staleness_rows
from bench.seed import AGENTS, LIVE_AGENTS, SPECIAL, shop_buddy
from bench.server import option_default, parse_vm_rss_kb, serve_environment, serve_options
from bench.staleness import Access, access_routes, etag_of, from_memory, switches, version_of
from bench.wrk import SocketErrors, Wrk, WrkParseError, parse_time_ms, parse_wrk_output
from domain.compiler import compile_blueprint

# -- wrk 4.1.0 (Debian), verbatim -------------------------------------------------------------------------------

HEALTH_MICROSECONDS: Final = """\
Running 2s test @ http://127.0.0.1:54737/health
  2 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   386.49us  419.80us   6.75ms   96.08%
    Req/Sec     3.02k   554.43     4.75k    70.73%
  Latency Distribution
     50%  299.00us
     75%  372.00us
     90%  486.00us
     99%    2.69ms
  12314 requests in 2.10s, 2.21MB read
Requests/sec:   5865.22
Transfer/sec:      1.05MB
"""

POST_WITH_STATUSES: Final = """\
Running 2s test @ http://127.0.0.1:47293/org-agents/25da6e34-2fb2-48f8-b22b-f9b588b09db2/blueprints
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    88.75ms   22.73ms 167.73ms   77.48%
    Req/Sec   176.85     37.68   240.00     72.50%
  Latency Distribution
     50%   82.95ms
     75%   96.72ms
     90%  120.34ms
     99%  152.32ms
  706 requests in 2.00s, 1.30MB read
Requests/sec:    352.13
Transfer/sec:    664.14KB
status 201 354
status 201 352
"""

NOT_FOUND_WITH_STATUSES: Final = """\
Running 2s test @ http://127.0.0.1:18765/missing
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    43.95ms    6.58ms  51.98ms   96.30%
    Req/Sec    79.17     23.07   121.00     73.17%
  Latency Distribution
     50%   44.00ms
     75%   45.23ms
     90%   47.97ms
     99%   51.73ms
  324 requests in 2.10s, 38.89KB read
  Non-2xx or 3xx responses: 324
Requests/sec:    154.29
Transfer/sec:     18.52KB
status 404 188
status 404 136
"""

SOCKET_ERRORS: Final = """\
Running 3s test @ http://127.0.0.1:18766/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    35.43ms   17.79ms  49.23ms   78.57%
    Req/Sec    29.15     18.56   110.00     76.60%
  Latency Distribution
     50%   43.98ms
     75%   44.12ms
     90%   47.97ms
     99%   48.30ms
  147 requests in 3.01s, 16.95KB read
  Socket errors: connect 0, read 26, write 0, timeout 7
  Non-2xx or 3xx responses: 30
Requests/sec:     48.91
Transfer/sec:      5.64KB
"""

SECONDS: Final = """\
Running 3s test @ http://127.0.0.1:18767/
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   409.48ms  449.56ms   1.24s    74.60%
    Req/Sec    16.27      9.52    30.00     63.64%
  Latency Distribution
     50%   44.10ms
     75%  900.38ms
     90%    1.20s 
     99%    1.24s 
  41 requests in 3.01s, 4.63KB read
Requests/sec:     13.64
Transfer/sec:      1.54KB
"""  # noqa: W291 - wrk pads "1.20s" to the width of "1.20ms"

REFUSED: Final = "unable to connect to 127.0.0.1:18765 Connection refused\n"


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("4.98ms", 4.98), ("1.20s", 1200.0), ("1.00m", 60_000.0), ("2.00h", 7_200_000.0),
     (" 1.24s ", 1240.0), ("0.00us", 0.0)],
)  # fmt: skip
def test_wrk_times_are_read_in_milliseconds(text: str, ms: float) -> None:
    assert parse_time_ms(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["", "12", "1.5 ms", "ms", "1.2ns", "-1ms"])
def test_anything_else_is_not_a_wrk_time(text: str) -> None:
    with pytest.raises(WrkParseError):
        parse_time_ms(text)


def test_a_clean_run_in_microseconds() -> None:
    result = parse_wrk_output(HEALTH_MICROSECONDS)
    assert result.requests == 12314
    assert result.duration_s == pytest.approx(2.10)
    assert result.requests_per_s == pytest.approx(5865.22)
    assert result.latency_avg_ms == pytest.approx(0.38649)
    assert result.latency_max_ms == pytest.approx(6.75)
    assert result.percentiles_ms == pytest.approx({"50": 0.299, "75": 0.372, "90": 0.486, "99": 2.69})
    assert (result.p50_ms, result.p99_ms) == pytest.approx((0.299, 2.69))
    assert result.non_2xx_3xx == 0
    assert result.socket_errors == SocketErrors()
    assert result.socket_errors.total == 0
    assert result.statuses == {}


def test_status_counts_printed_by_the_lua_script_are_summed_over_threads() -> None:
    result = parse_wrk_output(POST_WITH_STATUSES)
    assert result.statuses == {201: 706}
    assert sum(result.statuses.values()) == result.requests
    assert result.p99_ms == pytest.approx(152.32)
    assert result.non_2xx_3xx == 0


def test_non_2xx_responses_are_counted_by_wrk_and_by_the_script() -> None:
    result = parse_wrk_output(NOT_FOUND_WITH_STATUSES)
    assert result.non_2xx_3xx == 324
    assert result.statuses == {404: 324}


def test_socket_errors_are_read_one_by_one() -> None:
    result = parse_wrk_output(SOCKET_ERRORS)
    assert result.socket_errors == SocketErrors(connect=0, read=26, write=0, timeout=7)
    assert result.socket_errors.total == 33
    assert result.non_2xx_3xx == 30
    assert result.requests_per_s == pytest.approx(48.91)


def test_latencies_of_seconds() -> None:
    result = parse_wrk_output(SECONDS)
    assert result.latency_max_ms == pytest.approx(1240.0)
    assert result.percentiles_ms == pytest.approx({"50": 44.10, "75": 900.38, "90": 1200.0, "99": 1240.0})
    assert result.duration_s == pytest.approx(3.01)


@pytest.mark.parametrize("text", [REFUSED, "", HEALTH_MICROSECONDS.replace("Requests/sec", "Req/s")])
def test_output_without_the_summary_is_refused(text: str) -> None:
    with pytest.raises(WrkParseError):
        parse_wrk_output(text)


def test_output_without_the_latency_distribution_is_refused() -> None:
    without = "\n".join(line for line in HEALTH_MICROSECONDS.splitlines() if "%  " not in line)
    with pytest.raises(WrkParseError, match="--latency"):
        parse_wrk_output(without)


def test_the_wrk_command_line() -> None:
    wrk = Wrk(path="/usr/bin/wrk")
    args = wrk.command(
        "http://127.0.0.1:1/x", connections=32, duration_s=10, headers={"Authorization": "Bearer t"},
        script="post_blueprint.lua",
    )  # fmt: skip
    assert args[:5] == ["/usr/bin/wrk", "-t2", "-c32", "-d10s", "--latency"]
    assert args[5:7] == ["-H", "Authorization: Bearer t"]
    assert args[7] == "-s"
    assert Path(args[8]).is_file()
    assert args[-1] == "http://127.0.0.1:1/x"
    many = wrk.command("http://127.0.0.1:1/x", connections=64, duration_s=2, script="live_prompts.lua")
    assert Path(many[-2]).is_file()
    assert "BENCH_PATHS_FILE" in Path(many[-2]).read_text()


# -- serve --help and /proc ---------------------------------------------------------------------------------------

HELP_BEFORE: Final = """\
usage: org-agents serve [-h] [--host HOST] [--port PORT] [--no-migrate]

options:
  -h, --help    show this help message and exit
  --host HOST   address to listen on (default 127.0.0.1)
  --port PORT   port to listen on (default 8000)
  --no-migrate  serve without applying pending migrations
"""

HELP_WITH_SERVERS: Final = """\
usage: org-agents serve [-h] [--host HOST] [--port PORT] [--no-migrate]
                        [--workers WORKERS] [--server {granian,uvicorn}]

options:
  -h, --help            show this help message and exit
  --host HOST           address to listen on (default 127.0.0.1)
  --port PORT           port to listen on (default 8000)
  --no-migrate          serve without applying pending migrations
  --workers WORKERS     worker processes, each with its own pool and live
                        cache (default 1)
  --server {granian,uvicorn}
                        the ASGI server (default granian; see BENCHMARKS.md
                        for why)
"""


def test_serve_options_are_detected_from_its_help() -> None:
    assert {"--server", "--workers"} <= serve_options(HELP_WITH_SERVERS)
    assert not {"--server", "--workers"} & serve_options(HELP_BEFORE)
    assert "--no-migrate" in serve_options(HELP_BEFORE)


def test_option_defaults_are_read_from_wrapped_help() -> None:
    assert option_default(HELP_WITH_SERVERS, "--server") == "granian"
    assert option_default(HELP_WITH_SERVERS, "--workers") == "1"
    assert option_default(HELP_WITH_SERVERS, "--port") == "8000"
    assert option_default(HELP_WITH_SERVERS, "--no-migrate") is None
    assert option_default(HELP_BEFORE, "--server") is None


def test_serve_runs_with_its_defaults_but_for_what_a_measurement_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORG_AGENTS_LIVE_CACHE_MB", "7")
    monkeypatch.setenv("ORG_AGENTS_LOG_LEVEL", "debug")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    plain = serve_environment("dbname=bench", Path("/srv/bench-data"))
    assert plain["DATABASE_URL"] == "dbname=bench"
    assert plain["ORG_AGENTS_DATA_DIR"] == "/srv/bench-data"
    assert "ORG_AGENTS_LIVE_CACHE_MB" not in plain
    assert "ORG_AGENTS_LOG_LEVEL" not in plain
    off = serve_environment("dbname=bench", Path("/srv/bench-data"), CACHE_OFF_ENV)
    assert off["ORG_AGENTS_LIVE_CACHE_MB"] == "0"
    assert "ORG_AGENTS_LOG_LEVEL" not in off
    assert {k: v for k, v in off.items() if k != "ORG_AGENTS_LIVE_CACHE_MB"} == plain


def test_resident_memory_from_proc_status() -> None:
    status = "Name:\tpython\nVmPeak:\t  300000 kB\nVmRSS:\t   64512 kB\nRssAnon:\t   40000 kB\n"
    assert parse_vm_rss_kb(status) == 64512
    assert parse_vm_rss_kb("Name:\tzombie\nState:\tZ (zombie)\n") is None
    assert parse_vm_rss_kb(Path("/proc/self/status").read_text()) is not None


def test_machine_facts() -> None:
    assert parse_cpu_model("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n") == (
        "Intel(R) Xeon(R) Processor"
    )
    assert parse_mem_total_gib("MemTotal:       24683520 kB\nMemFree:  1 kB\n") == 23.5
    assert parse_os_name('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n') == (
        "Debian GNU/Linux 12 (bookworm)"
    )


# -- statistics ---------------------------------------------------------------------------------------------------


def test_runs_keep_their_order_and_report_the_median() -> None:
    runs = runs_of([3.0, 1.0, 2.0])
    assert runs.median == 2.0
    assert runs.raw == [3.0, 1.0, 2.0]
    assert runs_of([1.0, 2.0]).median == 1.5
    with pytest.raises(ValueError, match="no runs"):
        runs_of([])


def test_ratios_pair_runs_in_order() -> None:
    ratio = ratio_of(runs_of([6.0, 9.0, 3.0]), runs_of([10.0, 10.0, 10.0]))
    assert ratio.median == pytest.approx(0.6)
    assert ratio.raw == pytest.approx([0.6, 0.9, 0.3])
    assert math.isnan(ratio_of(runs_of([1.0]), runs_of([0.0])).median)


def test_nearest_rank_percentiles() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # 100 .. 1, unsorted on purpose
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([float(n) for n in range(1, 51)], 0.95) == 48.0  # rank ceil(47.5)
    assert percentile([7.0], 0.01) == 7.0


def _seen(*ms: float) -> list[Sighting]:
    return [Sighting(ms=value, polls=int(value) + 1) for value in ms]


def test_staleness_counts_the_slowest_connection_of_each_change() -> None:
    series = staleness_of("SQL", "A", [_seen(1.0, 3.0), _seen(2.0, 0.5), _seen(9.0, 4.0), _seen(0.2, 0.1)])
    assert series.connections == 2
    assert series.samples_ms == [3.0, 2.0, 9.0, 0.2]  # in order
    assert series.polls == [4, 3, 10, 1]
    assert series.median_ms == 2.5
    assert series.p95_ms == 9.0  # nearest rank: ceil(3.8) = 4th of 4
    assert series.max_ms == 9.0
    assert series.sightings[0] == _seen(1.0, 3.0)


def test_staleness_needs_changes_each_polled_over_the_same_connections() -> None:
    with pytest.raises(ValueError, match="no changes"):
        staleness_of("SQL", "A", [])
    with pytest.raises(ValueError, match="nobody polled"):
        staleness_of("SQL", "A", [_seen(1.0), []])
    with pytest.raises(ValueError, match="same connections"):
        staleness_of("SQL", "A", [_seen(1.0), _seen(1.0, 2.0)])


def test_changes_switch_back_and_forth_from_the_live_version() -> None:
    live, other = UUID(int=1), UUID(int=2)
    assert switches(live, other, 3) == [(live, other), (other, live), (live, other)]
    assert switches(live, other, 0) == []
    assert etag_of(live) == '"00000000-0000-0000-0000-000000000001"'
    assert version_of(etag_of(other)) == other
    assert version_of('W/"00000000-0000-0000-0000-000000000002"') == other


B_LOG: Final = """\
$ /work/main/.venv/bin/org-agents serve --host 127.0.0.1 --port 54259 --workers 1
[INFO] Started worker-1
INFO org_agents.changes: live cache on: following changes on org_agents_changes
INFO org_agents.access: {"method":"GET","route":"/health","status":200,"duration_ms":0.47,"request_id":"b48b2952"}
INFO org_agents.access: {"method":"GET","route":"/org-agents/{agent_id}/prompt","status":200,"duration_ms":0.12,\
"request_id":"bench-h-http1-B-before","from_memory":true}
INFO org_agents.access: {"method":"GET","route":"/org-agents/{agent_id}/prompt","status":200,"duration_ms":2.26,\
"request_id":"bench-h-http1-B-1"}
INFO org_agents.access: not json
"""


def test_the_access_log_tells_which_requests_the_cache_answered() -> None:
    routes = access_routes(B_LOG)
    assert routes == {
        "b48b2952": Access(route="/health", request_id="b48b2952"),
        "bench-h-http1-B-before": Access(
            route="/org-agents/{agent_id}/prompt", request_id="bench-h-http1-B-before", from_memory=True
        ),
        "bench-h-http1-B-1": Access(route="/org-agents/{agent_id}/prompt", request_id="bench-h-http1-B-1"),
    }
    assert from_memory(routes, ["bench-h-http1-B-before", "missing"]) == (1, 1)
    assert from_memory(routes, ["bench-h-http1-B-1"]) == (1, 0)


def test_version_numbers_are_gapless_only_from_one_to_the_count() -> None:
    assert VersionCheck(count=0, min_version=None, max_version=None).gapless
    assert VersionCheck(count=3, min_version=1, max_version=3).gapless
    assert not VersionCheck(count=3, min_version=1, max_version=4).gapless
    assert not VersionCheck(count=3, min_version=2, max_version=4).gapless


def _write(
    before: int, after: VersionCheck, created: int, statuses: dict[int, int] | None = None, socket_errors: int = 0
) -> WriteRun:
    statuses = {201: created} if statuses is None else statuses
    wrk = msgspec.structs.replace(
        parse_wrk_output(POST_WITH_STATUSES), statuses=statuses, socket_errors=SocketErrors(read=socket_errors)
    )
    errors = sum(n for status, n in statuses.items() if status != 201) + socket_errors
    return WriteRun(
        wrk=wrk, created=created, errors=errors, versions_per_s=created / 2.0,
        before=VersionCheck(count=before, min_version=1 if before else None, max_version=before or None),
        after=after, gapless=after.gapless, unacknowledged=after.count - before - created,
    )  # fmt: skip


def _versions(count: int, low: int = 1, high: int | None = None) -> VersionCheck:
    return VersionCheck(count=count, min_version=low, max_version=count if high is None else high)


def test_correct_writes_pass_with_up_to_one_unacknowledged_write_per_connection() -> None:
    exact = _write(0, _versions(706), created=706)
    in_flight = _write(706, _versions(1444), created=706)  # 32 committed while wrk hung up
    assert write_failures([exact, in_flight], connections=32) == []


def test_gapped_version_numbers_fail() -> None:
    (failure,) = write_failures([_write(0, _versions(706, high=707), created=706)], connections=32)
    assert failure == "run 1: the version numbers are not gapless: 706 versions numbered 1..707, not 1..706"
    assert write_failures([_write(0, _versions(706, low=2, high=707), created=706)], connections=32)


def test_fewer_versions_stored_than_acknowledged_fail() -> None:
    ok = _write(0, _versions(706), created=706)
    lost = _write(706, _versions(1410), created=706)  # one 201 without its version
    (failure,) = write_failures([ok, lost], connections=32)
    assert failure == "run 2: 2 acknowledged write(s) lost: 706 versions answered 201 but 704 were stored"


def test_more_unacknowledged_versions_than_connections_fail() -> None:
    assert write_failures([_write(0, _versions(738), created=706)], connections=32) == []
    (failure,) = write_failures([_write(0, _versions(739), created=706)], connections=32)
    assert failure == (
        "run 1: 33 versions committed but unacknowledged, more than the 32 connections could have had in flight"
    )


def test_any_error_fails_and_is_described() -> None:
    (non_201,) = write_failures([_write(0, _versions(700), created=700, statuses={201: 700, 409: 3, 503: 1})], 32)
    assert non_201 == "run 1: 4 error(s): responses other than 201 {409: 3, 503: 1}, socket errors 0"
    (sockets,) = write_failures([_write(0, _versions(700), created=700, socket_errors=2)], 32)
    assert sockets == "run 1: 2 error(s): responses other than 201 {}, socket errors 2"


def test_every_violation_of_every_run_is_listed() -> None:
    bad = _write(0, _versions(700, high=702), created=701, statuses={201: 701, 500: 1})
    failures = write_failures([_write(0, _versions(10), created=10), bad], connections=32)
    assert [failure.split(":")[0] for failure in failures] == ["run 2", "run 2", "run 2"]
    assert ["gapless" in failures[0], "lost" in failures[1], "500" in failures[2]] == [True, True, True]
    assert write_problems(bad, 32) == [failure.removeprefix("run 2: ") for failure in failures]


def test_the_warm_up_is_checked_too() -> None:
    ok = _write(10, _versions(20), created=10)
    warmup = _write(0, _versions(10), created=10, statuses={201: 10, 503: 2})
    assert write_failures([ok], connections=32, warmup=warmup) == [
        "warm-up: 2 error(s): responses other than 201 {503: 2}, socket errors 0"
    ]
    assert write_failures([ok], connections=32, warmup=None) == []


def test_the_write_check_raises_with_every_finding() -> None:
    writes = _report().writes
    check_writes(writes)  # the sample run is correct: nothing raised
    lost = _write(0, _versions(700), created=706)
    failing = msgspec.structs.replace(writes, runs=[writes.runs[0], lost], gapless=True, acknowledged_kept=False)
    with pytest.raises(BenchFailed, match=r"correctness violated \(1 finding\(s\)\): run 2: 6 acknowledged write"):
        check_writes(failing)
    gapped = _write(0, _versions(10, high=11), created=10)
    with pytest.raises(BenchFailed, match=r"\(1 finding\(s\)\): warm-up: the version numbers are not gapless"):
        check_writes(msgspec.structs.replace(writes, warmup=gapped))


def test_the_access_log_tells_whether_the_cache_answered_live_prompts() -> None:
    prompt = "/org-agents/{agent_id}/prompt"
    entries = [
        Access(route="/health", request_id="1"), Access(route=prompt, request_id="2", from_memory=True),
        Access(route=prompt, request_id="3"), Access(route=prompt, request_id="4"),
        Access(route="/org-agents/{agent_id}/blueprints", request_id="5"),
    ]  # fmt: skip
    assert prompt_answers(entries) == (3, 1)
    assert prompt_answers([]) == (0, 0)


def test_the_seed_makes_the_hot_agent_and_every_filler_live() -> None:
    assert LIVE_AGENTS == 1_000
    assert AGENTS == LIVE_AGENTS + SPECIAL - 1  # the writers', shallow and deep agents have no live version


# -- (f)'s blueprint ----------------------------------------------------------------------------------------------


def test_the_large_blueprint_is_about_200_kib_and_compiles_cleanly() -> None:
    doc = large_blueprint(shop_buddy())
    compiled = compile_blueprint(doc)
    assert compiled.violations == []
    assert compiled.prompt is not None
    timing = time_compiles(doc, compiles=3, warmup=0)
    assert 200 * 1024 <= timing.document_bytes < 210 * 1024
    assert timing.prompt_chars == len(compiled.prompt)
    assert len(timing.samples_ms) == 3
    assert large_blueprint(shop_buddy()) == doc  # deterministic


# -- the summary --------------------------------------------------------------------------------------------------


def _load(name: str, output: str, runs: int = 3) -> HttpLoad:
    result = parse_wrk_output(output)
    return HttpLoad(
        name=name, path="/x", connections=64, duration_s=2, requests_per_s=runs_of([result.requests_per_s] * runs),
        p50_ms=runs_of([result.p50_ms] * runs), p99_ms=runs_of([result.p99_ms] * runs), non_2xx_3xx=0,
        socket_errors=0, runs=[result] * runs, outputs=[output] * runs,
    )  # fmt: skip


def _report() -> Report:
    post = parse_wrk_output(POST_WITH_STATUSES)
    before = VersionCheck(count=0, min_version=None, max_version=None)
    after = VersionCheck(count=738, min_version=1, max_version=738)
    write = WriteRun(
        wrk=post, created=706, errors=0, versions_per_s=353.0, before=before, after=after, gapless=True,
        unacknowledged=32,
    )  # fmt: skip
    writes = WriteLoad(
        name="(d)", path="/x", connections=32, duration_s=2, versions_per_s=runs_of([353.0] * 3), errors=0,
        gapless=True, acknowledged_kept=True, warmup=write, runs=[write] * 3, outputs=[POST_WITH_STATUSES] * 3,
    )  # fmt: skip
    options = Options(
        duration_s=2, runs=3, connections=64, write_connections=32, list_connections=16, warmup_s=2, floor_s=5,
        min_load_s=60, staleness_changes=3, quick=False, servers=["uvicorn"], workers=[1],
    )  # fmt: skip
    machine = Machine(
        cpu_model="Xeon", cores=2, ram_gib=23.5, os="Debian", kernel="6.1", python="3.11.7", postgres="18.6",
        database="embedded", wrk="wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer",
        packages={"litestar": "2.25.0"}, commit="abc", uncommitted_changes=True,
    )  # fmt: skip
    seed = SeedInfo(
        organizations=3, agents=1000, hot_agent_id="h", writer_agent_id="w", shallow_agent_id="s",
        shallow_versions=10, deep_agent_id="d", deep_versions=10_000, live_agents=1_000, seconds=1.5,
    )  # fmt: skip
    timing = CompileTiming(
        document_bytes=205_000, prompt_chars=100_000, warnings=1, compiles=50, median_ms=1.5, p95_ms=1.7,
        samples_ms=[1.5] * 50,
    )  # fmt: skip
    memory = MemoryReading(
        load_s=61.0,
        processes=[
            ProcessMemory(pid=1, parent=None, command="org-agents serve", rss_mb=46.0, worker=False),
            ProcessMemory(pid=2, parent=1, command="worker", rss_mb=63.0, worker=True),
        ],
    )
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    return Report(
        started_at=now,
        finished_at=now,
        seconds=420.0,
        command="uv run python -m bench",
        options=options,
        machine=machine,
        seed=seed,
        health=_load("(a)", HEALTH_MICROSECONDS),
        prompt=_load("(b)", NOT_FOUND_WITH_STATUSES),
        prompt_many=_load("(b2)", SECONDS),
        prompt_cache_off=CacheOff(
            env=dict(CACHE_OFF_ENV),
            prompt=_load("(b3)", POST_WITH_STATUSES),
            log_file="off.log.gz",
            prompts_logged=3000,
            prompts_from_memory=0,
        ),
        database_floor=DatabaseFloor(statement="SELECT 1", duration_s=5, queries_per_s=runs_of([1.0, 2.0, 3.0])),
        writes=writes,
        list_shallow=_load("(e)", HEALTH_MICROSECONDS),
        list_deep=_load("(e)", SOCKET_ERRORS),
        list_shallow_10=_load("(e)", HEALTH_MICROSECONDS),
        list_deep_10=_load("(e)", HEALTH_MICROSECONDS),
        compile=timing,
        memory=memory,
        staleness=_staleness(),
        serve_log="x.log.gz",
        serve_help=HELP_WITH_SERVERS,
        comparison=[],
        comparison_note="skipped (--quick)",
        notes=["a note"],
    )


def _staleness() -> StalenessPhase:
    return StalenessPhase(
        agent_id="h", versions=["v1", "v2"], created_version=True, changes=3, fail_after_ms=2000.0,
        b_args=["--workers", "1"], b_log="b.log.gz", a_workers=2, b_workers=1, listeners=3, b_checked=6,
        b_before_logged=6, b_before_from_memory=6, b_seen_logged=6, b_seen_from_memory=0,
        series=[
            staleness_of("activate on A over HTTP", "B, 1 connection", [_seen(1.5), _seen(2.5), _seen(0.5)]),
            staleness_of("UPDATE by SQL", "B, 1 connection", [_seen(1.0), _seen(1.0), _seen(1.0)]),
            staleness_of("UPDATE by SQL", "A, slowest of 2", [_seen(1.0, 2.0), _seen(150.0, 1.0), _seen(3.0, 1.0)]),
        ],
        restored=True,
    )  # fmt: skip


def test_staleness_rows_judge_the_max_of_each_series() -> None:
    rows = staleness_rows(_staleness().series)
    assert rows[0] == (
        "(h) staleness: a change on one instance served by another: activate on A over HTTP, served by B, "
        "1 connection (3 changes): median",
        "1.50 ms",
        "p95 2.50 ms, max 2.50 ms; polls up to 3",
        "≤ 100 ms (max)",
        "yes",
    )
    assert rows[1][0].startswith("(h) staleness: UPDATE by SQL, served by B")
    assert rows[2][1:] == ("3.00 ms", "p95 150 ms, max 150 ms; polls up to 151", "≤ 100 ms (max)", "**no**")


def test_the_summary_has_a_row_per_measurement_and_judges_the_targets() -> None:
    text = render(_report())
    rows = [line for line in text.splitlines() if line.startswith("| (")]
    assert {row.split()[1].split("/")[0] for row in rows} == {
        "(a)", "(b)", "(b2)", "(b3)", "(c)", "(d)", "(e)", "(f)", "(g)", "(h)"
    }  # fmt: skip
    assert all(row.count(" | ") == 4 for row in rows)  # five cells, no stray pipes
    by_name = {row.split(" | ")[0]: row for row in rows}
    assert by_name["| (b)/(a) req/s"].endswith("| ≥ 0.6 | **no** |")  # 154 / 5865
    assert "| 353 | 353 / 353 / 353 | ≥ 500 | **no** |" in text
    assert "| 63 MB | parent 46 MB, worker 63 MB | ≤ 150 MB | yes |" in text
    assert by_name["| (e) p50 latency, deep / shallow"].endswith("| ≤ 1.5 | **no** |")  # 43.98 / 0.299
    assert by_name["| (e) limit=10 (equal payloads): p50 latency, deep / shallow"].endswith(
        "| 1.00 | 1.00 / 1.00 / 1.00 | ≤ 1.5 | yes |"
    )
    assert "| (e) `GET …/blueprints?limit=10` page 1, 10,000-version agent (64 conn.): req/s | 5,865 |" in text
    staleness = [row for row in rows if row.startswith("| (h)")]
    assert len(staleness) == 3
    assert staleness[0].startswith("| (h) staleness: a change on one instance served by another: ")
    assert [row.rsplit(" | ", 1)[1] for row in staleness] == ["yes |", "yes |", "**no** |"]
    assert (
        "B's access log: 6 of 6 answers just before a change came from its cache; 6 of 6 first answers with the "
        "change were read from the database" in text
    )
    assert "Requests until a connection saw a change: at most 151." in text
    assert by_name["| (b2) `GET …/prompt` of 1,000 agents in turn (64 conn.): req/s"].endswith(
        "| 14 | 14 / 14 / 14 | — | — |"
    )
    assert by_name["| (b2) 1,000 agents: latency p50 / p99"].endswith(
        "| 44.10 / 1,240 ms | 44.10/1,240, 44.10/1,240, 44.10/1,240 | — | — |"
    )
    assert by_name["| (b2)/(b) req/s (1,000 live prompts cached per worker, not 1)"].endswith(
        "| 0.09 | 0.09 / 0.09 / 0.09 | — | — |"  # 13.64 / 154.29
    )
    assert by_name[
        "| (b3) `GET …/prompt`, live cache off (`ORG_AGENTS_LIVE_CACHE_MB=0`, own serve; 64 conn.): req/s"
    ].endswith("| 352 | 352 / 352 / 352 | — | — |")
    assert by_name["| (b3)/(a) req/s"].endswith("| 0.06 | 0.06 / 0.06 / 0.06 | — | — |")  # 352 / 5865
    assert by_name["| (b)/(b3) req/s: what the live cache gains"].endswith("| 0.44 | 0.44 / 0.44 / 0.44 | — | — |")
    assert "as have 999 others (for (b2))" in text
    assert "server granian, 1 worker(s)" in text
    assert "`uv run python -m bench`" in text
    assert "Server comparison: skipped (--quick)" in text


def test_the_comparison_table_lists_failed_configurations_too() -> None:
    report = _report()
    ok = Comparison(
        config=ServerConfig(server="uvicorn", workers=2, args=["--server", "uvicorn", "--workers", "2"]),
        health=_load("(a)", HEALTH_MICROSECONDS),
        prompt=_load("(b)", NOT_FOUND_WITH_STATUSES),
        memory=report.memory,
    )
    failed = Comparison(
        config=ServerConfig(server="granian", workers=1, args=["--server", "granian", "--workers", "1"]),
        error="serve exited with 2; the tail of its log:\nTraceback …",
    )
    text = render(msgspec.structs.replace(report, comparison=[ok, failed], comparison_note=None))
    assert "| uvicorn | 2 | 5,865 | 154 | 51.73 ms | 0.03 | 63 MB | — |" in text
    assert "| granian | 1 | — | — | — | — | — | failed: serve exited with 2; the tail of its log: |" in text
    assert "Server comparison:" not in text
