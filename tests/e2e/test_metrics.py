"""`serve`'s metrics, scraped as Prometheus scrapes them: a real `org-agents serve --workers 2`, its /metrics on a port
of its own, the counts of both workers summed exactly (hot path, routed and unrouted answers alike); `off` opens no
listener, and a port already taken is a warning while serve runs on. Waiting polls with a deadline: a worker adds
what it counted to the shared files once a second."""

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final
from uuid import uuid4

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.http.examples import shop_buddy
from entrypoints.http.live_prompt import ROUTE
from tests.conftest import database_url_env
from tests.serving import ORG_AGENTS, Serving, free_port, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # servers of their own: seconds each

DEADLINE_S: Final = 15.0
FETCHES: Final = 40
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def token(env: dict[str, str], user: str, role: str) -> str:
    made = subprocess.run(
        [ORG_AGENTS, "token", "create", "--org", "acme", "--user", user, "--role", role],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return made.stdout.splitlines()[-1]


def scrape(metrics_url: str) -> Samples:
    answer = httpx.get(metrics_url, timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include these."""
    wanted = set(labels.items())
    return sum(value for (found, have), value in samples.items() if found == name and wanted <= have)


def until(metrics_url: str, settled: Callable[[Samples], bool], what: str) -> Samples:
    deadline = time.monotonic() + DEADLINE_S
    while not settled(samples := scrape(metrics_url)):
        assert time.monotonic() < deadline, f"{what}: {sorted(samples.items())}"
        time.sleep(0.05)
    return samples


def listening_ports(pid: int) -> set[int]:
    """The TCP ports serve's processes (itself and its workers) listen on."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {c.laddr.port for p in processes for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}


@pytest.fixture
def env(migrated_database: str) -> dict[str, str]:
    return database_url_env(migrated_database)


@pytest.fixture
def metered(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Serving, str]]:
    port = free_port()
    with serving(env | {"ORG_AGENTS_METRICS_ADDR": f"127.0.0.1:{port}"}, tmp_path / "serve.log",
                 ["--no-migrate", "--workers", "2"]) as served:  # fmt: skip
        yield served, f"http://127.0.0.1:{port}/metrics"


def test_a_scrape_sums_both_workers_counts_exactly(metered: tuple[Serving, str], env: dict[str, str]) -> None:
    served, metrics_url = metered
    connected = "org_agents_change_feed_connected"
    until(metrics_url, lambda s: [v for (n, _), v in s.items() if n == connected] == [1, 1], "both feeds listen")
    owner, member = token(env, "ana", "owner"), token(env, "runtime", "member")
    as_owner = {"Authorization": f"Bearer {owner}"}
    made = httpx.post(f"{served.url}/org-agents/with-blueprint", headers=as_owner, timeout=30,
                      json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})  # fmt: skip
    agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
    compiled = httpx.post(f"{served.url}/org-agents/{agent}/blueprints/{version}/compile?activate=true",
                          headers=as_owner, timeout=30)  # fmt: skip
    assert compiled.status_code == 200, compiled.text

    as_member = {"Authorization": f"Bearer {member}"}
    for _ in range(FETCHES):  # a connection each, so the kernel spreads them over both workers (SO_REUSEPORT)
        assert httpx.get(f"{served.url}/org-agents/{agent}/prompt", headers=as_member, timeout=30).status_code == 200
    for _ in range(3):
        assert httpx.get(f"{served.url}/org-agents/{uuid4()}", headers=as_member, timeout=30).status_code == 404
    for _ in range(2):
        assert httpx.get(f"{served.url}/no/such/path", timeout=30).status_code == 404

    prompts = {"name": "org_agents_http_requests_total", "route": ROUTE, "status": "200"}
    expected = {  # every request this test made, once each
        (ROUTE, "200"): FETCHES, ("/org-agents/{agent_id}", "404"): 3, ("(no route)", "404"): 2,
        ("/org-agents/with-blueprint", "201"): 1, ("/org-agents/{agent_id}/blueprints/{version_id}/compile", "200"): 1,
    }  # fmt: skip

    def counted(samples: Samples) -> dict[tuple[str, str], float]:
        name = "org_agents_http_requests_total"
        return {(route, status): total(samples, name, route=route, status=status) for route, status in expected}

    found = until(metrics_url, lambda s: counted(s) == expected, "every request counted")
    routed = total(found, **prompts, from_memory="false")
    from_memory = total(found, **prompts, from_memory="true")
    hits, misses = total(found, "org_agents_live_cache_hits_total"), total(found, "org_agents_live_cache_misses_total")
    assert routed + from_memory == FETCHES
    assert total(found, "org_agents_http_request_duration_seconds_count", route=ROUTE) == routed  # routed: timed
    assert hits + misses == FETCHES  # one lookup counted per fetch, on whichever path answered it
    assert 1 <= from_memory <= hits
    assert total(found, "org_agents_live_cache_prompts") == 2  # both workers hold it: both answered fetches
    assert misses >= 2  # each worker's first fetch read the database
    assert total(found, "org_agents_http_request_duration_seconds_count", route="/org-agents/{agent_id}") == 3
    assert total(found, "org_agents_pool_connections", state="idle") >= 2  # each pool opens with its minimum
    assert total(found, "org_agents_webhook_deliveries_pending") == 0
    assert counted(scrape(metrics_url)) == expected  # and no more: nothing is counted twice

    workers = psutil.Process(served.proc.pid).children(recursive=True)
    directory = Path(next(f.path for w in workers for f in w.open_files() if "org-agents-metrics-" in f.path)).parent
    assert directory.stat().st_mode & 0o777 == 0o700
    served.proc.terminate()
    served.proc.wait(timeout=60)
    assert not directory.exists()


def test_off_opens_no_listener(env: dict[str, str], tmp_path: Path) -> None:
    with serving(env | {"ORG_AGENTS_METRICS_ADDR": "off"}, tmp_path / "serve.log", ["--no-migrate"]) as served:
        assert listening_ports(served.proc.pid) == {int(served.url.rsplit(":", 1)[1])}


def test_a_metrics_port_already_taken_is_a_warning_and_serve_runs_on(env: dict[str, str], tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        taken_env = env | {"ORG_AGENTS_METRICS_ADDR": f"127.0.0.1:{port}"}
        with serving(taken_env, tmp_path / "serve.log", ["--no-migrate"]) as served:
            assert httpx.get(f"{served.url}/health", timeout=30).status_code == 200
            assert f"metrics not served: cannot listen on 127.0.0.1:{port}" in served.log_text()
            assert listening_ports(served.proc.pid) == {int(served.url.rsplit(":", 1)[1])}
