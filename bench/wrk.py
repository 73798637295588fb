"""wrk: running it, and reading what it prints. The parsing is pure (text in, numbers out) so that it is unit-tested
on captured output (tests/unit/test_bench.py)."""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final, Self

import msgspec

INSTALL_HINT: Final = "wrk not found: install it with `apt-get install wrk`"
LUA_DIR: Final = Path(__file__).parent / "lua"

# wrk formats times with format_time_us: us, ms and s scale by 1000, then minutes and hours.
TIME_UNITS_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME: Final = r"(\d+(?:\.\d+)?)(us|ms|s|m|h)"
_PERCENTILE: Final = re.compile(r"^\s+(\d+(?:\.\d+)?)%\s+" + _TIME + r"\s*$", re.MULTILINE)
_LATENCY_STATS: Final = re.compile(r"^\s+Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, re.MULTILINE)
_TOTAL: Final = re.compile(r"^\s+(\d+) requests in " + _TIME + r",", re.MULTILINE)
_SOCKET_ERRORS: Final = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_2XX: Final = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_RATE: Final = re.compile(r"^Requests/sec:\s+(\d+(?:\.\d+)?)\s*$", re.MULTILINE)
_STATUS: Final = re.compile(r"^status (\d+) (\d+)\s*$", re.MULTILINE)  # printed by bench/lua/*.lua done()


class WrkParseError(ValueError):
    """wrk's output lacks a line every run prints; the message quotes the output."""


class WrkFailed(RuntimeError):
    """wrk exited with an error (it could not connect, say); the message has its output."""


class SocketErrors(msgspec.Struct, frozen=True, kw_only=True):
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.timeout


class WrkResult(msgspec.Struct, frozen=True, kw_only=True):
    """One wrk run, in milliseconds and requests per second."""

    requests: int
    duration_s: float
    requests_per_s: float
    latency_avg_ms: float
    latency_max_ms: float
    percentiles_ms: dict[str, float]  # "50", "75", "90", "99": wrk's --latency distribution
    non_2xx_3xx: int
    socket_errors: SocketErrors
    statuses: dict[int, int]  # status -> responses, summed over threads; only from scripts that count them

    @property
    def p50_ms(self) -> float:
        return self.percentiles_ms["50"]

    @property
    def p99_ms(self) -> float:
        return self.percentiles_ms["99"]


def parse_time_ms(text: str) -> float:
    """A wrk time such as `812.00us`, `4.98ms`, `1.02s` or `1.00m`, in milliseconds."""
    match = re.fullmatch(_TIME, text.strip())
    if match is None:
        raise WrkParseError(f"not a wrk time: {text!r}")
    return float(match.group(1)) * TIME_UNITS_MS[match.group(2)]


def _ms(number: str, unit: str) -> float:
    return float(number) * TIME_UNITS_MS[unit]


def parse_percentiles(text: str) -> dict[str, float]:
    """The `Latency Distribution` block of `--latency`: percentile (as wrk prints it, without `%`) -> ms."""
    return {_percentile_key(p): _ms(number, unit) for p, number, unit in _PERCENTILE.findall(text)}


def _percentile_key(printed: str) -> str:
    value = float(printed)
    return str(int(value)) if value.is_integer() else str(value)


def parse_socket_errors(text: str) -> SocketErrors:
    """wrk prints the line only when one of the counts is above zero."""
    match = _SOCKET_ERRORS.search(text)
    if match is None:
        return SocketErrors()
    connect, read, write, timeout = (int(group) for group in match.groups())
    return SocketErrors(connect=connect, read=read, write=write, timeout=timeout)


def parse_non_2xx_3xx(text: str) -> int:
    """wrk prints the line only when the count is above zero."""
    match = _NON_2XX.search(text)
    return int(match.group(1)) if match else 0


def parse_statuses(text: str) -> dict[int, int]:
    """`status <code> <count>` lines, one per status and thread, printed by our Lua scripts' done()."""
    counts: dict[int, int] = {}
    for status, count in _STATUS.findall(text):
        counts[int(status)] = counts.get(int(status), 0) + int(count)
    return counts


def parse_wrk_output(text: str) -> WrkResult:
    """Everything we use from one `wrk --latency` run's standard output."""
    stats = _LATENCY_STATS.search(text)
    total = _TOTAL.search(text)
    rate = _RATE.search(text)
    percentiles = parse_percentiles(text)
    if stats is None or total is None or rate is None or not {"50", "99"} <= percentiles.keys():
        raise WrkParseError(f"unexpected wrk output (was --latency given?):\n{text}")
    avg_number, avg_unit, _, _, max_number, max_unit = stats.groups()
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2), total.group(3)) / 1000,
        requests_per_s=float(rate.group(1)),
        latency_avg_ms=_ms(avg_number, avg_unit),
        latency_max_ms=_ms(max_number, max_unit),
        percentiles_ms=percentiles,
        non_2xx_3xx=parse_non_2xx_3xx(text),
        socket_errors=parse_socket_errors(text),
        statuses=parse_statuses(text),
    )


# -- running --------------------------------------------------------------------------------------------------


class Wrk(msgspec.Struct, frozen=True, kw_only=True):
    """The wrk binary and the load shape shared by runs."""

    path: str
    threads: int = 2

    @classmethod
    def find(cls) -> Self | None:
        found = shutil.which("wrk")
        return cls(path=found) if found else None

    def version(self) -> str:
        done = subprocess.run(  # noqa: S603 - the wrk found on PATH, fixed arguments
            [self.path, "-v"], capture_output=True, text=True, check=False, timeout=10
        )
        first = (done.stdout or done.stderr).strip().splitlines()
        return first[0] if first else "unknown"

    def command(
        self,
        url: str,
        *,
        connections: int,
        duration_s: float,
        headers: dict[str, str] | None = None,
        script: str | None = None,
    ) -> list[str]:
        args = [self.path, f"-t{self.threads}", f"-c{connections}", f"-d{_seconds(duration_s)}s", "--latency"]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if script is not None:
            args += ["-s", str(LUA_DIR / script)]
        return [*args, url]

    def run(
        self,
        url: str,
        *,
        connections: int,
        duration_s: float,
        headers: dict[str, str] | None = None,
        script: str | None = None,
        script_env: dict[str, str] | None = None,
    ) -> tuple[WrkResult, str]:
        """One run; returns the parsed result and wrk's raw output. Raises WrkFailed when wrk fails."""
        args = self.command(url, connections=connections, duration_s=duration_s, headers=headers, script=script)
        done = subprocess.run(  # noqa: S603 - the wrk found on PATH, arguments built here
            args,
            capture_output=True,
            text=True,
            check=False,
            timeout=duration_s + 60,
            env={**os.environ, **(script_env or {})},
            start_new_session=True,  # a Ctrl-C reaches us; subprocess.run then kills wrk on the way out
        )
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise WrkFailed(f"wrk exited with {done.returncode}:\n{output.strip()}")
        return parse_wrk_output(done.stdout), output


def _seconds(duration_s: float) -> str:
    return str(max(1, round(duration_s)))
