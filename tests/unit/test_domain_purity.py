"""The domain stays pure: it imports only pure modules and never reads the clock, draws an id or opens a file."""

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

import domain

DOMAIN: Final = Path(domain.__file__).parent

# Modules with no IO, no clock, no randomness of their own (or whose impure parts the call check below catches).
PURE: Final = frozenset(
    {
        "__future__",
        "abc",
        "collections",
        "collections.abc",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",  # sequence alignment and unified diffs, on values in memory
        "enum",
        "functools",
        "hashlib",
        "ipaddress",  # parsing and classifying addresses written in a URL; it resolves nothing
        "zlib",
        "itertools",
        "math",
        "msgspec",
        "operator",
        "re",
        "string",
        "textwrap",
        "typing",
        "unicodedata",
        "urllib.parse",  # splitting a URL; it fetches nothing
        "uuid",
    }
)

# Calls that read the clock, draw randomness or touch the outside world, by the name they are called through.
IMPURE_CALLS: Final = frozenset(
    {
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "datetime.fromtimestamp",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "date.today",
        "datetime.date.today",
        "uuid.uuid1",
        "uuid.uuid4",
        "uuid1",
        "uuid4",
        "time.time",
        "time.monotonic",
        "time.perf_counter",
        "open",
        "print",
        "input",
        "eval",
        "exec",
        "__import__",
        "importlib.import_module",
    }
)
IMPURE_ATTRIBUTES: Final = frozenset({"now", "utcnow", "today", "uuid1", "uuid4", "urandom", "getenv", "environ"})


def _is_pure(module: str) -> bool:
    return module in PURE or module == "domain" or module.startswith("domain.")


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def impurities(source: str, filename: str = "<source>") -> Iterator[str]:
    """Every import of a module outside the allow-list, and every impure call or attribute, as `file:line: what`."""
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_pure(alias.name):
                    yield f"{where}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.level or not _is_pure(module):  # relative imports hide where they lead: spell domain.x out
                yield f"{where}: from {module} import ..."
            for alias in node.names:
                if f"{module}.{alias.name}" in IMPURE_CALLS or alias.name in {"uuid1", "uuid4", "urandom"}:
                    yield f"{where}: from {module} import {alias.name}"
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in IMPURE_CALLS or (name or "").startswith(("random.", "secrets.", "os.", "time.")):
                yield f"{where}: call {name}()"
        elif isinstance(node, ast.Attribute) and node.attr in IMPURE_ATTRIBUTES:
            yield f"{where}: uses .{node.attr}"


def test_the_domain_imports_only_pure_modules_and_calls_nothing_impure() -> None:
    sources = sorted(DOMAIN.rglob("*.py"))
    assert len(sources) >= 8  # the walk found the package, not an empty directory

    found = [line for path in sources for line in impurities(path.read_text(), str(path.relative_to(DOMAIN.parent)))]

    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "import psycopg",
        "from psycopg_pool import AsyncConnectionPool",
        "import litestar",
        "from litestar import get",
        "import uvicorn",
        "from application.ports import Clock",
        "import adapters.memory",
        "from entrypoints import bootstrap",
        "import os",
        "import socket",
        "import pathlib",
        "import sqlite3",
        "from . import agents",
        "import random",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "from uuid import uuid4",
        "import uuid\nx = uuid.uuid4()",
        "import uuid\nx = uuid.uuid1()",
        "x = open('f')",
        "import hashlib\nx = hashlib.sha256(b'').hexdigest()\nimport time\ny = time.time()",
        "from typing import Any\nx: Any = __import__('os')",
    ],
)
def test_the_checker_catches_io_framework_driver_clock_and_randomness(source: str) -> None:
    assert list(impurities(source)) != []


def test_the_checker_accepts_what_the_domain_legitimately_uses() -> None:
    source = "\n".join(
        [
            "from __future__ import annotations",
            "from collections.abc import Mapping",
            "from datetime import datetime, timedelta",
            "from uuid import UUID",
            "import msgspec",
            "import hashlib",
            "from domain.errors import Violation",
            "def f(now: datetime) -> datetime:",
            "    return now + timedelta(seconds=1)",
            "x = hashlib.sha256(b'x').digest()",
        ]
    )

    assert list(impurities(source)) == []
