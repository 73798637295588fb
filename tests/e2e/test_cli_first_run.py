"""What a new user meets first (issue 20, item 8): each mistake is one line on stderr with its documented exit code,
never a traceback, and nothing is started or undone by accident. `serve` runs as a process of its own; the other
commands run in this process (`main`, as the script calls it), which saves a second of start-up each."""

import io
import os
import re
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from entrypoints import settings
from entrypoints.cli import main
from entrypoints.settings import ENVIRONMENT
from tests.conftest import database_url_env
from tests.e2e.test_cli import ORG_AGENTS

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """`org-agents ARGS` with `env` as its whole environment, in this process."""

    def run_main(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as scoped:
            for name in list(os.environ):
                scoped.delenv(name)
            for name, value in env.items():
                scoped.setenv(name, value)
            scoped.setattr("sys.stdin", io.StringIO(stdin))
            capsys.readouterr()
            handler = signal.getsignal(signal.SIGTERM)  # main() sets its own, for the process it thinks it owns
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = int(exit_.code or 0)
            finally:
                signal.signal(signal.SIGTERM, handler)
            out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run_main


def assert_one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("org-agents: ")
    return line


def ok(run: Run, *args: str, env: dict[str, str]) -> str:
    done = run(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_version_and_help_name_the_release_and_every_environment_variable(run: Run, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    assert re.fullmatch(r"org-agents \d+\.\d+\.\d+\n", ok(run, "--version", env=env))
    shown = ok(run, "--help", env=env)
    for name in ENVIRONMENT:
        assert name in shown


def test_every_variable_the_settings_read_is_listed_for_help() -> None:
    source = Path(settings.__file__).read_text()
    read = set(re.findall(r'"((?:ORG_AGENTS_[A-Z0-9_]+)|DATABASE_URL)"', source))
    assert read <= set(ENVIRONMENT), read - set(ENVIRONMENT)


def test_a_malformed_database_url_is_one_line_and_exit_2(run: Run, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": "postgresql://ana@[oops"}
    for args in (("migrate", "status"), ("token", "list", "--org", "acme"), ("export", "--org", "acme")):
        assert "DATABASE_URL" in assert_one_line(run(*args, env=env), 2)
    served = subprocess.run(
        [ORG_AGENTS, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert "DATABASE_URL" in assert_one_line(served, 2)


def test_serving_without_migrating_a_database_that_is_down_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"}
    done = subprocess.run(
        [ORG_AGENTS, "serve", "--no-migrate", "--port", "0"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    line = assert_one_line(done, 3)
    assert "cannot reach the database" in line


def test_a_port_another_server_listens_on_is_refused_before_anything_starts(database: str) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as granian's workers listen
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [ORG_AGENTS, "serve", "--port", str(port)], env=database_url_env(database), capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    line = assert_one_line(done, 2)
    assert f"127.0.0.1:{port}" in line
    assert "another server" in line


def test_listing_the_tokens_of_an_unknown_organization_is_an_error_not_an_empty_list(run: Run, database: str) -> None:
    env = database_url_env(database)
    ok(run, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner", env=env)
    done = run("token", "list", "--org", "acmee", env=env)
    assert "no organization named 'acmee'" in assert_one_line(done, 2)
    assert done.stdout == ""


def test_migrate_down_asks_first_and_undoes_nothing_without_yes(run: Run, database: str) -> None:
    env = database_url_env(database)
    ok(run, "migrate", env=env)
    before = ok(run, "migrate", "status", env=env)
    line = assert_one_line(run("migrate", "down", env=env), 2)  # no terminal to ask on: refused
    assert "--yes" in line
    assert ok(run, "migrate", "status", env=env) == before
    last = before.splitlines()[-1].split()[1]
    assert ok(run, "migrate", "down", "--yes", env=env).strip() == f"undid {last}"


def test_one_time_format_across_commands(run: Run, database: str) -> None:
    env = database_url_env(database)
    created = ok(
        run, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner", "--expires", "1d", env=env
    )
    listing = ok(run, "token", "list", "--org", "acme", env=env).splitlines()[1].split("\t")
    revoked = ok(run, "token", "revoke", listing[0], env=env)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
    assert re.search(rf"until {stamp}\)", created)
    assert re.fullmatch(stamp, listing[3])
    assert re.search(rf" at {stamp}\n", revoked)
