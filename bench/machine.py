"""The machine and software a run measured, for the report's header."""

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

from bench.model import Machine

PACKAGES: Final = ("litestar", "uvicorn", "granian", "msgspec", "psycopg", "psycopg-pool")
REPO: Final = Path(__file__).parent.parent


def parse_cpu_model(cpuinfo: str) -> str:
    match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def parse_mem_total_gib(meminfo: str) -> float:
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", meminfo, re.MULTILINE)
    return round(int(match.group(1)) / 1024 / 1024, 1) if match else 0.0


def parse_os_name(os_release: str) -> str:
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?$', os_release, re.MULTILINE)
    return match.group(1) if match else platform.system()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _git(*args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(  # noqa: S603 - git found on PATH, fixed arguments
        [git, "-C", str(REPO), *args], capture_output=True, text=True, check=False, timeout=30
    )
    return done.stdout.strip() if done.returncode == 0 else None


def describe(postgres: str, database: str, wrk: str) -> Machine:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return Machine(
        cpu_model=parse_cpu_model(_read("/proc/cpuinfo")),
        cores=len(os.sched_getaffinity(0)),
        ram_gib=parse_mem_total_gib(_read("/proc/meminfo")),
        os=parse_os_name(_read("/etc/os-release")),
        kernel=platform.release(),
        python=platform.python_version(),
        postgres=postgres,
        database=database,
        wrk=wrk,
        packages=_versions(),
        commit=_git("rev-parse", "--short=12", "HEAD"),
        uncommitted_changes=None if status is None else bool(status),
    )
