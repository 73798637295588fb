"""`org-agents serve` as a user runs it: a subprocess on a free port, its output in a log file, stopped by SIGTERM."""

import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

from bench.model import ProcessMemory

READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 60.0
POLL_S: Final = 0.05
LOG_TAIL_CHARS: Final = 3_000


class ServerFailed(RuntimeError):
    """serve did not become ready, or died; the message ends with its log's tail."""


def serve_executable() -> Path:
    """The `org-agents` script of the environment running the bench (uv's .venv)."""
    return Path(sys.executable).parent / "org-agents"


def serve_options(help_text: str) -> frozenset[str]:
    """The long options `serve --help` lists, such as `--server` and `--workers`."""
    return frozenset(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def option_default(help_text: str, option: str) -> str | None:
    """What an option's help says its default is: `(default X` anywhere in its (possibly wrapped) help."""
    pattern = rf"(?<![\w-]){re.escape(option)}(?![\w-])(?:(?!\n  -).)*?\(default ([^;)\s]+)"
    match = re.search(pattern, help_text, re.DOTALL)
    return match.group(1) if match else None


def serve_help(executable: Path) -> str:
    done = subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
        [str(executable), "serve", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_environment(conninfo: str, data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ours, without DATABASE_URL and ORG_AGENTS_* (serve runs with its defaults, log level included), plus the
    bench's database, a data dir of its own and `extra` (a setting a measurement changes on purpose)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ORG_AGENTS_")}
    return env | {"DATABASE_URL": conninfo, "ORG_AGENTS_DATA_DIR": str(data_dir)} | dict(extra or {})


class Serve:
    """A running serve process."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, self.log_path.stat().st_size - LOG_TAIL_CHARS))
                return log.read().decode(errors="replace")
        except OSError:
            return "(no log)"

    def ensure_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise ServerFailed(f"serve exited with {code}; the tail of {self.log_path}:\n{self.log_tail()}")

    def health_status(self) -> int | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status
        except OSError:
            return None
        finally:
            connection.close()

    def wait_until_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Polls GET /health until it answers 200; returns the seconds it took."""
        started = time.monotonic()
        while self.health_status() != 200:
            self.ensure_alive()
            if time.monotonic() - started > timeout_s:
                raise ServerFailed(f"serve did not answer /health within {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(POLL_S)
        return time.monotonic() - started

    def memory(self) -> list[ProcessMemory]:
        """Resident memory of serve and of every process under it (workers, when it has them)."""
        root = self.process.pid
        tree = [(root, None), *descendants(root)]
        has_children = len(tree) > 1
        found = []
        for pid, parent in tree:
            rss_kb = read_vm_rss_kb(pid)
            if rss_kb is None:
                continue  # exited meanwhile
            command = _command(pid)
            worker = (parent is not None) if has_children else True
            if "resource_tracker" in command or "semaphore_tracker" in command:
                worker = False  # multiprocessing's helper, not a worker
            found.append(
                ProcessMemory(pid=pid, parent=parent, command=command, rss_mb=round(rss_kb / 1024, 1), worker=worker)
            )
        return found

    def stop(self) -> int | None:
        """SIGTERM (serve shuts down gracefully), then wait; SIGKILL to its process group if it hangs."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session: serve and its workers only
                self.process.wait()
        return self.process.returncode


@contextmanager
def running_serve(
    executable: Path,
    conninfo: str,
    data_dir: Path,
    log_path: Path,
    extra_args: list[str],
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Serve]:
    """serve on a free port, ready; stopped on the way out whatever happens (errors, Ctrl-C), its log then gzipped
    (`serve.log_path` names the .gz). `extra_env` is added to its environment (see serve_environment)."""
    port = free_port()
    args = [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args]
    with log_path.open("ab") as log:
        shown = " ".join(f"{name}={value}" for name, value in (extra_env or {}).items())
        log.write(f"$ {shown + ' ' if shown else ''}{' '.join(args)}\n".encode())
        log.flush()
        process = subprocess.Popen(  # noqa: S603 - the project's own script, arguments built here
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=serve_environment(conninfo, data_dir, extra_env),
            start_new_session=True,  # a Ctrl-C in the terminal reaches only us; we stop serve ourselves
        )
    serve = Serve(process, port, log_path)
    try:
        serve.wait_until_ready()
        yield serve
    finally:
        serve.stop()
        serve.log_path = compress(log_path)


def compress(log_path: Path) -> Path:
    """Gzips a stopped serve's log (one access-log line per request adds up to 100+ MB) and removes the original."""
    packed = log_path.with_name(log_path.name + ".gz")
    with log_path.open("rb") as source, gzip.open(packed, "wb", compresslevel=1) as target:
        shutil.copyfileobj(source, target, length=1024 * 1024)
    log_path.unlink()
    return packed


# -- /proc ----------------------------------------------------------------------------------------------------


def parse_vm_rss_kb(status_text: str) -> int | None:
    """VmRSS from a /proc/<pid>/status text, in kB; None when absent (a zombie has none)."""
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB\s*$", status_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def read_vm_rss_kb(pid: int) -> int | None:
    try:
        return parse_vm_rss_kb(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """Direct children, from /proc/<pid>/task/*/children."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, parent) of every process under `pid`, parents before their children."""
    found: list[tuple[int, int]] = []
    pending = [pid]
    while pending:
        parent = pending.pop(0)
        for child in children(parent):
            found.append((child, parent))
            pending.append(child)
    return found


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:200]
