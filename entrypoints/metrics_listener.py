"""`serve`'s metrics listener: `GET /metrics` on ORG_AGENTS_METRICS_ADDR, a port of its own (loopback by default),
answered by a thread of serve's own process with what every worker recorded (entrypoints/metrics.py), summed.

prometheus_client's multiprocess mode: each worker writes its values to files in a directory named by
PROMETHEUS_MULTIPROC_DIR, and a MultiProcessCollector reads them all at each scrape. prometheus_client reads that
variable once, when it is first imported, and the workers are forked from this process: so the directory is made and
named here before anything in this process imports prometheus_client (the CLI imports nothing that does;
tests/unit/test_metrics.py checks), and this module imports it only then. A worker's gauges are dropped from the sum
once it has exited (`mark_process_dead`, as prometheus_client documents, at the next scrape: granian tells nobody
when a worker exits); its counters stay counted. A port already taken is a warning: serve runs, without metrics.
"""

import logging
import os
import re
import signal
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from entrypoints.serve import STOP_SIGNALS
from entrypoints.settings import METRICS_ADDR

log = logging.getLogger("org_agents.metrics")

MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
PATH: Final = "/metrics"
SCRAPE_QUERY_TIMEOUT_S: Final = 2.0  # the webhook backlog's query, to connect and again to answer
LIVE_GAUGES: Final = re.compile(r"gauge_live[a-z]+_([0-9]+)\.db")  # a process's gauges that count while it lives

Backlog = Callable[[], tuple[int, int] | None]  # (pending, due) webhook deliveries; None: not known now
Render = Callable[[str], tuple[bytes, str]]  # the Accept header -> (body, content type)


def dead_processes(directory: Path, alive: Callable[[int], bool]) -> set[int]:
    """The processes whose live gauges are still in `directory` although they have exited."""
    pids = {int(found[1]) for path in directory.iterdir() if (found := LIVE_GAUGES.fullmatch(path.name))}
    return {pid for pid in pids if not alive(pid)}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Listener(socketserver.ThreadingTCPServer):
    """A thread per scrape. Not http.server's HTTPServer, whose bind asks the resolver for the host's full name."""

    allow_reuse_address = True  # a port left in TIME_WAIT by the last serve is free; one listened on is not
    daemon_threads = True
    render: Render

    def __init__(self, address: tuple[str, int]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Scrape)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)


class _Scrape(BaseHTTPRequestHandler):
    server: _Listener

    def do_GET(self) -> None:
        if urlsplit(self.path).path != PATH:
            self.send_error(404, explain=f"metrics are at {PATH}")
            return
        body, content_type = self.server.render(self.headers.get("Accept", ""))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


def _exposition(directory: Path, backlog: Backlog | None) -> Render:
    """Imports prometheus_client: only once PROMETHEUS_MULTIPROC_DIR names `directory` (see the module's note)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    class WebhookBacklog:
        def collect(self) -> Iterable[Metric]:
            if backlog is None or (found := backlog()) is None:
                return  # the database did not answer in time: no value rather than a wrong one
            pending, due = found
            yield GaugeMetricFamily(
                "org_agents_webhook_deliveries_pending", "Webhook deliveries not yet delivered nor given up on",
                value=pending,
            )  # fmt: skip
            yield GaugeMetricFamily(
                "org_agents_webhook_deliveries_due", "Of them, those due now (the others wait out a retry's backoff)",
                value=due,
            )  # fmt: skip

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(WebhookBacklog())
    one_at_a_time = threading.Lock()  # two scrapes must not both remove a dead worker's files

    def render(accept: str) -> tuple[bytes, str]:
        with one_at_a_time:
            for pid in dead_processes(directory, process_alive):
                mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
            encode, content_type = choose_encoder(accept)
            return encode(registry), content_type

    return render


@contextmanager
def metrics_listener(
    address: tuple[str, int] | None, backlog: Backlog | None = None, env: MutableMapping[str, str] = os.environ
) -> Iterator[tuple[str, int] | None]:
    """Serves /metrics while the block runs, and yields the address it listens on; None when `address` is None or
    taken (logged as a warning). `env` is what the workers will inherit: it names the directory, which is removed
    when the block ends, or turns their metrics off when nothing would read them."""
    if address is None:
        yield None
        return
    try:
        listener = _Listener(address)
    except OSError as exc:
        log.warning("metrics not served: cannot listen on %s:%s: %s", *address, exc.strerror or exc)
        env[METRICS_ADDR] = "off"  # the workers record nothing nobody reads
        yield None
        return
    with listener, tempfile.TemporaryDirectory(prefix="org-agents-metrics-") as directory:  # 0700
        env[MULTIPROC_DIR] = directory
        listener.render = _exposition(Path(directory), backlog)
        thread = threading.Thread(target=listener.serve_forever, name="org-agents metrics", daemon=True)
        # The stop signals go to serve's main thread or its signal thread (entrypoints/serve.py), never this one.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        host, port = listener.address
        log.info("metrics at http://%s:%s%s", f"[{host}]" if ":" in host else host, port, PATH)
        try:
            yield host, port
        finally:
            listener.shutdown()
            thread.join()
            env.pop(MULTIPROC_DIR, None)
