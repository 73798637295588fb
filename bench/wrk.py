"""wrk, always with lua/bench.lua, whose done() prints the run's numbers as one JSON line."""

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

WRK: Final = "/usr/bin/wrk"  # Debian's package: `apt-get install wrk`
SCRIPT: Final = Path(__file__).parent / "lua" / "bench.lua"
THREADS: Final = 2
Env = Mapping[str, str] | None  # headers, or environment variables


class WrkFailed(RuntimeError):
    """wrk exited with an error, or printed no summary; the message has its output."""


class Errors(msgspec.Struct, frozen=True):
    connect: int
    read: int
    write: int
    timeout: int
    status: int  # answers with a status of 400 or more (wrk's "Non-2xx or 3xx responses")


class Run(msgspec.Struct, frozen=True):
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    errors: Errors
    statuses: dict[int, int]  # responses by status, counted only with BENCH_BODY_FILE
    thread_statuses: list[dict[int, int]] = []  # the same per wrk thread, in the order of its threads
    bytes: int = 0  # read, headers and bodies

    @property
    def seconds(self) -> float:
        return self.duration_us / 1e6

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.duration_us else 0.0

    @property
    def socket_errors(self) -> int:
        return self.errors.connect + self.errors.read + self.errors.write + self.errors.timeout


def parse(stdout: str) -> Run:
    """The last JSON line of wrk's output: the one done() printed."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        return msgspec.json.decode(lines[-1], type=Run)
    except (IndexError, msgspec.DecodeError) as exc:
        raise WrkFailed(f"no summary from {SCRIPT.name} ({exc}) in wrk's output:\n{stdout}") from None


def wrk(url: str, connections: int, seconds: int, headers: Env = None, env: Env = None, threads: int = THREADS) -> Run:
    """One run; `env` is the script's (BENCH_PATHS_FILE, BENCH_BODY_FILE)."""
    options = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    args = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(SCRIPT), *options, url]
    environment = os.environ | dict(env or {})
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=seconds + 60, env=environment)  # noqa: S603
    if done.returncode != 0:
        raise WrkFailed(f"wrk exited with {done.returncode}:\n{done.stdout}{done.stderr}")
    return parse(done.stdout)
