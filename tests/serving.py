"""A real `org-agents serve` process for end-to-end tests: started as a user starts it, ready once /health answers,
its log in a file (a pipe nobody reads would block it), stopped with SIGTERM."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import httpx

ORG_AGENTS: Final = str(Path(sys.executable).parent / "org-agents")
STARTUP_S: Final = 60.0


class ServeFailed(AssertionError):
    """serve did not start: it exited, or /health did not answer 200 within STARTUP_S (the message has its log)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Serving:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.proc = proc
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def serving(env: dict[str, str], log: Path, args: Sequence[str] = (), *, own_group: bool = False) -> Iterator[Serving]:
    """`own_group`: serve runs in a process group of its own, which the test may SIGKILL whole (serve and its workers
    at once, as when its container is killed); killed, not stopped, on exit if the test did not."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [ORG_AGENTS, "serve", "--port", str(port), *args], env=env, stdout=out, stderr=out,
            start_new_session=own_group,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ServeFailed("org-agents serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.05)
        yield Serving(url, proc, log)
    finally:
        if own_group and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()  # a hung shutdown must not outlive the caller
                proc.wait()
                raise
