"""What a worker records for the metrics (entrypoints/metrics.py) and how `serve`'s listener answers with it
(entrypoints/metrics_listener.py): counts reach the shared counters once, gauges are set to now, a process that has
exited leaves the gauges' sum, and the listener is loopback, off, or a warning when its port is taken."""

import logging
import os
import socket
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from application.deps import PoolStats
from application.live_cache import LiveCache
from domain.blueprints import LivePrompt
from entrypoints.http.live_prompt import ROUTE
from entrypoints.metrics import ANSWERED, FROM_MEMORY, NO_ROUTE, REQUESTS, WorkerMetrics, count_routed, count_unrouted
from entrypoints.metrics_listener import MULTIPROC_DIR, dead_processes, metrics_listener
from entrypoints.settings import Settings, SettingsError

ORG, AGENT = UUID(int=1), UUID(int=10)


def value(metric: MetricWrapperBase, name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels; 0 when there is none yet."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def requests(route: str, status: str, from_memory: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status, "from_memory": from_memory}
    return value(REQUESTS, "org_agents_http_requests_total", **labels)


def live_prompt() -> LivePrompt:
    return LivePrompt(
        agent_id=AGENT, blueprint_id=UUID(int=1001), version=1, compiled_system_prompt="You are helpful.",
        compiled_at=datetime(2026, 1, 1, tzinfo=UTC), label="production",
    )  # fmt: skip


def test_the_cli_imports_no_prometheus_client_before_serve_names_the_multiprocess_directory() -> None:
    code = "import sys, entrypoints.cli; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_the_metrics_address_is_loopback_by_default_and_can_be_moved_or_turned_off() -> None:
    assert Settings.from_env({}).metrics_addr == ("127.0.0.1", 9464)
    assert Settings.from_env({"ORG_AGENTS_METRICS_ADDR": "OFF"}).metrics_addr is None
    assert Settings.from_env({"ORG_AGENTS_METRICS_ADDR": "10.0.0.7:9100"}).metrics_addr == ("10.0.0.7", 9100)
    assert Settings.from_env({"ORG_AGENTS_METRICS_ADDR": "[::1]:9100"}).metrics_addr == ("::1", 9100)
    assert Settings.from_env({"ORG_AGENTS_METRICS_ADDR": "localhost:1"}).metrics_addr == ("localhost", 1)
    for wrong in ("9464", ":9464", "::1:9464", "host:port", "host:0", "host:65536", "a b:1"):
        with pytest.raises(SettingsError, match="ORG_AGENTS_METRICS_ADDR"):
            Settings.from_env({"ORG_AGENTS_METRICS_ADDR": wrong})


def test_the_live_cache_counts_one_hit_or_miss_per_lookup_and_none_for_a_miss_the_route_will_count() -> None:
    cache = LiveCache()
    cache.attach()
    assert cache.prompt(ORG, AGENT, count_miss=False) is None
    assert (cache.prompt_hits, cache.prompt_misses) == (0, 0)
    assert cache.prompt(ORG, AGENT) is None
    cache.keep_prompt(cache.ticket(), ORG, live_prompt())
    assert cache.prompt(ORG, AGENT, count_miss=False) == live_prompt()
    assert cache.prompt(UUID(int=2), AGENT) is None  # another organization's: a miss
    assert (cache.prompt_hits, cache.prompt_misses) == (1, 2)


def test_requests_counted_in_plain_dicts_reach_the_shared_counters_once() -> None:
    route = f"/test/{uuid4()}"
    count_routed("GET", route, 200, 0.002)
    count_routed("GET", route, 200, 0.5)
    count_routed("BREW", route, 405, 0.001)  # a method out of the closed set: "other", so labels stay bounded
    FROM_MEMORY[299] += 3  # a status no other test sends, so the count is this test's alone
    metrics = WorkerMetrics(LiveCache(), None)

    metrics.record()
    metrics.record()

    assert requests(route, "200", "false") == 2
    assert requests(route, "405", "false", method="other") == 1
    assert requests(ROUTE, "299", "true") == 3
    assert ANSWERED[("GET", route, 200)] == 0
    assert FROM_MEMORY[299] == 0


@pytest.mark.anyio
async def test_answers_sent_before_a_route_is_found_are_counted_as_no_route() -> None:
    WorkerMetrics(LiveCache(), None).record()  # what earlier tests of this process counted and nobody recorded yet
    before = requests(NO_ROUTE, "404", "false", method="PATCH")
    start: Any = {"type": "http.response.start", "status": 404, "headers": []}
    body: Any = {"type": "http.response.body", "body": b""}
    unrouted: Any = {"type": "http", "method": "PATCH"}
    routed: Any = unrouted | {"route_handler": object()}  # counted by the access log's middleware instead
    for message, scope in ((start, unrouted), (body, unrouted), (start, routed)):
        await count_unrouted(message, scope)
    WorkerMetrics(LiveCache(), None).record()
    assert requests(NO_ROUTE, "404", "false", method="PATCH") == before + 1


def test_gauges_are_what_the_cache_and_pool_hold_now_and_counters_add_what_was_counted_since() -> None:
    cache = LiveCache()
    stats = [PoolStats(size=4, idle=1, max_size=10, waiting=2, waited=5, wait_s=0.25, timeouts=1)]
    metrics = WorkerMetrics(cache, lambda: stats[-1])
    cache.attach()
    cache.keep_prompt(cache.ticket(), ORG, live_prompt())
    cache.prompt(ORG, AGENT)
    cache.prompt(ORG, UUID(int=11))

    metrics.record()
    assert value(metrics.prompts, "org_agents_live_cache_prompts") == 1
    assert value(metrics.prompt_bytes, "org_agents_live_cache_prompt_bytes") == cache.sizes[1]
    assert value(metrics.connected, "org_agents_change_feed_connected") == 1
    assert value(metrics.connections, "org_agents_pool_connections", state="in_use") == 3
    assert value(metrics.connections, "org_agents_pool_connections", state="idle") == 1
    assert value(metrics.waiting, "org_agents_pool_requests_waiting") == 2
    assert value(metrics.hits, "org_agents_live_cache_hits_total") == 1
    assert value(metrics.misses, "org_agents_live_cache_misses_total") == 1

    cache.prompt(ORG, AGENT)
    cache.detach()
    stats.append(PoolStats(size=2, idle=2, max_size=10, waiting=0, waited=7, wait_s=0.5, timeouts=1))
    metrics.record()
    assert value(metrics.hits, "org_agents_live_cache_hits_total") == 2
    assert value(metrics.connected, "org_agents_change_feed_connected") == 0
    assert value(metrics.prompts, "org_agents_live_cache_prompts") == 0
    assert value(metrics.waits, "org_agents_pool_waits_total") == 7
    assert value(metrics.wait_seconds, "org_agents_pool_wait_seconds_total") == 0.5
    assert value(metrics.timeouts, "org_agents_pool_timeouts_total") == 1

    stats.append(PoolStats(size=2, idle=2, max_size=10, waiting=0, waited=2, wait_s=0.5, timeouts=1))  # began again
    metrics.record()
    assert value(metrics.waits, "org_agents_pool_waits_total") == 9


def test_the_processes_whose_live_gauges_outlived_them_are_found_by_their_files(tmp_path: Path) -> None:
    for name in ("gauge_livesum_11.db", "gauge_liveall_11.db", "gauge_livesum_12.db", "counter_13.db",
                 "gauge_all_14.db", "histogram_15.db"):  # fmt: skip
        (tmp_path / name).touch()
    assert dead_processes(tmp_path, alive=lambda pid: pid == 12) == {11}


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]
    return free


def scrape(address: tuple[str, int], path: str = "/metrics") -> httpx.Response:
    return httpx.get(f"http://{address[0]}:{address[1]}{path}", timeout=10)


WORKER = textwrap.dedent(
    """
    import sys
    from prometheus_client import Counter, Gauge
    Counter("org_agents_test_answers", "", registry=None).inc(int(sys.argv[1]))
    Gauge("org_agents_test_held", "", multiprocess_mode="livesum", registry=None).set(int(sys.argv[1]))
    print("recorded", flush=True)
    sys.stdin.read()  # lives until told
    """
)


def worker(n: int, env: dict[str, str]) -> "subprocess.Popen[str]":
    args = [sys.executable, "-c", WORKER, str(n)]
    return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_scrape_sums_every_process_and_drops_the_gauges_of_those_that_exited(port: int) -> None:
    env: dict[str, str] = {}
    backlog = (4, 1)
    with metrics_listener(("127.0.0.1", port), lambda: backlog, env=env) as address:
        assert address == ("127.0.0.1", port)
        directory = Path(env[MULTIPROC_DIR])
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        workers = [worker(n, os.environ | env) for n in (2, 3)]
        try:
            for started in workers:
                assert started.stdout is not None
                assert started.stdout.readline() == "recorded\n"
            assert samples(scrape(address)) >= {("org_agents_test_answers_total", 5), ("org_agents_test_held", 5)}
            workers[0].communicate("", timeout=30)  # it exits
            found = samples(scrape(address))
            assert ("org_agents_test_answers_total", 5) in found  # its count stays counted
            assert ("org_agents_test_held", 3) in found  # its gauge does not
            assert {("org_agents_webhook_deliveries_pending", 4), ("org_agents_webhook_deliveries_due", 1)} <= found
            assert scrape(address, "/").status_code == 404
        finally:
            for started in workers:
                started.communicate("", timeout=30)
    assert not directory.exists()
    assert MULTIPROC_DIR not in env


def samples(answer: httpx.Response) -> set[tuple[str, float]]:
    assert answer.status_code == 200, answer.text
    return {(s.name, s.value) for f in text_string_to_metric_families(answer.text) for s in f.samples if not s.labels}


def test_off_opens_no_listener_and_names_no_directory() -> None:
    env: dict[str, str] = {}
    with metrics_listener(None, env=env) as address:
        assert address is None
        assert env == {}


def test_a_port_already_taken_is_a_warning_and_turns_the_workers_metrics_off(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    env: dict[str, str] = {}
    with (
        socket.create_server(("127.0.0.1", port)),
        caplog.at_level(logging.WARNING, "org_agents.metrics"),
        metrics_listener(("127.0.0.1", port), env=env) as address,
    ):
        assert address is None
    assert env == {"ORG_AGENTS_METRICS_ADDR": "off"}
    assert f"metrics not served: cannot listen on 127.0.0.1:{port}" in caplog.text
