"""The embedded PostgreSQL: one server per data directory, shared by processes, stopped by the last one, no orphans."""

import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from adapters.embedded_postgres import (
    SERVER_USER,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    embedded_postgres,
    socket_dir_for,
)

pytestmark = pytest.mark.postgres

HOLDER = """
import sys
from pathlib import Path
from adapters.embedded_postgres import embedded_postgres
with embedded_postgres(Path(sys.argv[1])) as conninfo:
    print(conninfo, flush=True)
    sys.stdin.read()
"""
REPO = Path(__file__).parents[2]


def postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def interpreter_for(user: str | None) -> str:
    """This Python, or one of the same version that `user` may run (ours may sit in root's private home)."""
    if user is None:
        return sys.executable
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(f"python{wanted}"), f"/usr/bin/python{wanted}"):
        if candidate is None:
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"],
                user=user, capture_output=True, text=True, check=False, cwd="/",
            )  # fmt: skip
        except OSError:
            continue
        if probe.stdout.strip() == wanted:
            return candidate
    raise AssertionError(f"no Python {wanted} that {user} may run")


@contextmanager
def holder(data_dir: Path, *, user: str | None = None) -> Iterator[subprocess.Popen[str]]:
    """Another process using the embedded server until its stdin is closed."""
    site_packages = sysconfig.get_paths()["purelib"]
    with subprocess.Popen(
        [interpreter_for(user), "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        user=user,
        env={**os.environ, "PYTHONPATH": f"{REPO}:{site_packages}"},
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, proc.communicate(timeout=30)
            yield proc
        finally:
            if proc.poll() is None:
                proc.communicate(input="", timeout=60)


def answers(conninfo: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def test_the_server_stops_when_its_only_user_leaves(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path, dbname="probe") as conninfo:
        assert answers(conninfo)
        pid = postmaster_pid(tmp_path)
        assert pid is not None

    assert postmaster_pid(tmp_path) is None
    assert not alive(pid)


def test_a_second_process_uses_the_running_server_and_the_last_to_leave_stops_it(tmp_path: Path) -> None:
    with holder(tmp_path) as first:
        pid = postmaster_pid(tmp_path)
        with embedded_postgres(tmp_path) as conninfo:
            assert answers(conninfo)
            assert postmaster_pid(tmp_path) == pid  # the same server, not a second one

        first.communicate(input="", timeout=60)
        assert first.returncode == 0
        assert postmaster_pid(tmp_path) is None


def test_the_server_outlives_a_user_that_leaves_while_another_still_uses_it(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as conninfo:
        with holder(tmp_path) as second:
            second.communicate(input="", timeout=60)
        assert answers(conninfo)
    assert postmaster_pid(tmp_path) is None


def test_after_a_user_is_killed_the_next_user_adopts_the_server_and_stops_it(tmp_path: Path) -> None:
    with holder(tmp_path) as victim:
        pid = postmaster_pid(tmp_path)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

    assert postmaster_pid(tmp_path) == pid  # killed before it could stop the server
    with embedded_postgres(tmp_path) as conninfo:
        assert answers(conninfo)
        assert postmaster_pid(tmp_path) == pid
    assert postmaster_pid(tmp_path) is None


def test_data_persists_across_restarts(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as conninfo, psycopg.connect(conninfo) as conn:
        conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
    with embedded_postgres(tmp_path) as conninfo, psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(42,)]


def test_the_server_runs_as_the_caller_or_as_a_system_user_under_root(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path):
        pid = postmaster_pid(tmp_path)
        owner = os.stat(f"/proc/{pid}").st_uid

    expected = pwd.getpwnam(SERVER_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert owner == expected


def test_an_ordinary_user_runs_its_own_server(tmp_path: Path) -> None:
    # Under root (as in CI) this is the only way to exercise the non-root path; otherwise every test here is it.
    user = "nobody" if os.geteuid() == 0 else None
    data_dir = Path(tempfile.mkdtemp(prefix="org-agents-ordinary-")) if user else tmp_path
    try:
        if user:
            os.chown(data_dir, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        with holder(data_dir, user=user):
            pid = postmaster_pid(data_dir)
            assert pid is not None
            assert os.stat(f"/proc/{pid}").st_uid == (pwd.getpwnam(user).pw_uid if user else os.geteuid())
        assert postmaster_pid(data_dir) is None
    finally:
        if user:
            shutil.rmtree(data_dir, ignore_errors=True)


def test_a_data_dir_too_deep_for_a_socket_path_gets_a_short_private_socket_dir(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 20] * 6)

    assert socket_dir_for(tmp_path) == tmp_path / "run"
    assert len(str(socket_dir_for(deep))) < 40
    with embedded_postgres(deep) as conninfo:
        assert answers(conninfo)
        assert EmbeddedPostgres(deep).is_running()


def test_a_killed_server_whose_pid_another_process_now_has_is_started_again(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.acquire()
    try:
        server.kill()
        pid_file = tmp_path / "pgdata" / "postmaster.pid"
        lines = pid_file.read_text().split("\n")
        as_server = {} if server.user.is_us else {"user": server.user.uid, "group": server.user.gid, "extra_groups": []}
        # The pid reused by some other process of the server's user, which both pg_ctl and PostgreSQL take for alive
        with subprocess.Popen(["sleep", "60"], **as_server) as stranger:  # type: ignore[call-overload]
            try:
                pid_file.write_text("\n".join([str(stranger.pid), *lines[1:]]))
                assert not server.is_running()
                deadline = time.monotonic() + 60
                while True:  # the killed server's backends leave a moment after it; until then a start is refused
                    try:
                        server.ensure_running()
                        break
                    except EmbeddedPostgresError:
                        assert time.monotonic() < deadline, "the server did not start again"
                assert server.is_running()
                assert answers(server.conninfo("postgres"))
            finally:
                stranger.kill()
    finally:
        server.release()
