"""The embedded PostgreSQL: one server per data directory, shared by processes, stopped by the last one, no orphans;
under root, nothing outside its data directory opened up, no guessable path in /tmp, locks no one else can hold."""

import hashlib
import importlib.metadata
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from adapters.embedded_postgres import (
    SERVER_USER,
    TEMP_SOCKET_PREFIX,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    bin_dir,
    embedded_postgres,
    install_postgres,
    postgres_version,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # servers of their own: seconds each

HOLDER = """
import sys
from pathlib import Path
from adapters.embedded_postgres import embedded_postgres
with embedded_postgres(Path(sys.argv[1])) as conninfo:
    print(conninfo, flush=True)
    sys.stdin.read()
"""
LOCK_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""
REPO = Path(__file__).parents[2]
AS_ROOT = os.geteuid() == 0


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


def as_user(user: str | None) -> dict[str, object]:
    """subprocess arguments running a child as `user` with its own group only (not root's, which it would keep)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def server_uid() -> int:
    return pwd.getpwnam(SERVER_USER).pw_uid if AS_ROOT else os.geteuid()


def interpreter_for(user: str | None) -> str:
    """This Python, or one of the same version that `user` may run (ours may sit in root's private home)."""
    if user is None:
        return sys.executable
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(f"python{wanted}"), f"/usr/bin/python{wanted}"):
        if candidate is None:
            continue
        try:
            probe = subprocess.run(  # type: ignore[call-overload]
                [candidate, "-c", "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"],
                capture_output=True, text=True, check=False, cwd="/", **as_user(user),
            )  # fmt: skip
        except OSError:
            continue
        if probe.stdout.strip() == wanted:
            return str(candidate)
    raise AssertionError(f"no Python {wanted} that {user} may run")


@contextmanager
def holder(
    data_dir: Path, *, user: str | None = None, pythonpath: str | None = None, cwd: Path = REPO
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Another process using the embedded server until its stdin is closed, with the conninfo it was given."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHONPATH"] = pythonpath or f"{REPO}:{sysconfig.get_paths()['purelib']}"
    with subprocess.Popen(  # type: ignore[call-overload]
        [interpreter_for(user), "-s", "-B", "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env,
        **as_user(user),
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, proc.communicate(timeout=30)
            yield proc, line.strip()
        finally:
            if proc.poll() is None:
                proc.communicate(input="", timeout=60)


def answers(conninfo: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def modes_of(paths: Iterable[Path]) -> dict[Path, tuple[int, int, int]]:
    """Mode, owner and group of each path (not of what a link points to)."""
    return {path: (path.lstat().st_mode, path.lstat().st_uid, path.lstat().st_gid) for path in paths}


def socket_dir_of(conninfo: str) -> Path:
    return Path(str(conninfo_to_dict(conninfo)["host"]))


def start_again(server: EmbeddedPostgres) -> None:
    deadline = time.monotonic() + 60
    while True:  # the killed server's backends leave a moment after it; until then a start is refused
        try:
            server.ensure_running()
            return
        except EmbeddedPostgresError:
            assert time.monotonic() < deadline, "the server did not start again"


def test_the_server_stops_when_its_only_user_leaves(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path, dbname="probe") as conninfo:
        assert answers(conninfo)
        pid = postmaster_pid(tmp_path)
        assert pid is not None

    assert postmaster_pid(tmp_path) is None
    assert not alive(pid)


def test_a_second_process_uses_the_running_server_and_the_last_to_leave_stops_it(tmp_path: Path) -> None:
    with holder(tmp_path) as (first, _):
        pid = postmaster_pid(tmp_path)
        with embedded_postgres(tmp_path) as conninfo:
            assert answers(conninfo)
            assert postmaster_pid(tmp_path) == pid  # the same server, not a second one

        first.communicate(input="", timeout=60)
        assert first.returncode == 0
        assert postmaster_pid(tmp_path) is None


def test_the_server_outlives_a_user_that_leaves_while_another_still_uses_it(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as conninfo:
        with holder(tmp_path) as (second, _):
            second.communicate(input="", timeout=60)
        assert answers(conninfo)
    assert postmaster_pid(tmp_path) is None


def test_after_a_user_is_killed_the_next_user_adopts_the_server_and_stops_it(tmp_path: Path) -> None:
    with holder(tmp_path) as (victim, _):
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

    assert owner == server_uid()


def test_the_data_dir_is_private_and_no_other_user_can_open_its_locks(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.acquire()
    try:
        layout = server.layout
        data = tmp_path.stat()
        if AS_ROOT:  # its server user may pass (group search bit), nobody else
            assert (stat.S_IMODE(data.st_mode), data.st_uid, data.st_gid) == (0o710, 0, server.user.gid)
        else:
            assert (stat.S_IMODE(data.st_mode), data.st_uid) == (0o700, os.geteuid())
        private = layout.private_dir.lstat()
        assert (stat.S_IMODE(private.st_mode), private.st_uid) == (0o700, os.geteuid())
        for lock in (layout.lifecycle_lock, layout.users_lock):
            assert lock.parent == layout.private_dir
            assert (stat.S_IMODE(lock.lstat().st_mode), lock.lstat().st_uid) == (0o600, os.geteuid())
            # What froze every org-agents command: another user holding the lock. Here it cannot even open it.
            for user in ("nobody", SERVER_USER) if AS_ROOT else ():
                tried = subprocess.run(  # type: ignore[call-overload]
                    ["flock", "--nonblock", "--exclusive", str(lock), "true"],
                    capture_output=True, text=True, check=False, cwd="/", **as_user(user),
                )  # fmt: skip
                assert tried.returncode != 0
                assert "Permission denied" in tried.stderr
    finally:
        server.release()


def test_a_lock_held_too_long_is_a_one_line_error_naming_its_holder_within_the_bound(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path):
        pass
    lock = tmp_path / "private" / "lifecycle.lock"
    with subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as stuck:
        assert stuck.stdout is not None
        assert stuck.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(EmbeddedPostgresError) as refused, embedded_postgres(tmp_path, lock_timeout_s=1):
            pass
        waited = time.monotonic() - started
        stuck.communicate(input="", timeout=30)

    assert 1 <= waited < 10
    message = str(refused.value)
    assert "\n" not in message
    assert str(lock) in message
    assert f"held by process {stuck.pid} (" in message
    with embedded_postgres(tmp_path, lock_timeout_s=1) as conninfo:  # its holder gone, the lock is free again
        assert answers(conninfo)


def test_nothing_outside_the_data_dir_changes_and_a_venv_in_a_private_home_stays_private(tmp_path: Path) -> None:
    # The clone and its venv in a private home (root's is 0700), holding a file every user could read, were it not
    # for that home's mode: the server's user must never get to it.
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    secret = home / "secret.env"
    secret.write_text("DB_PASSWORD=hunter2\n")
    secret.chmod(0o644)
    site = home / "site-packages"
    install_postgres(site)
    (site / "embedded_postgres" / "__init__.py").touch()  # found first, before the venv's own
    data_dir = tmp_path / "data"
    watched = [
        *bin_dir().parents, bin_dir(), Path("/root"), *home.parents, home, *site.parents, *data_dir.parents,
    ]  # fmt: skip
    before = modes_of(watched)

    with holder(data_dir, pythonpath=f"{site}:{REPO}:{sysconfig.get_paths()['purelib']}") as (_, conninfo):
        assert answers(conninfo)
        program = Path(os.readlink(f"/proc/{postmaster_pid(data_dir)}/exe"))
        read = subprocess.run(  # type: ignore[call-overload]
            ["cat", str(secret)], capture_output=True, text=True, check=False, cwd="/",
            **as_user(SERVER_USER if AS_ROOT else None),
        )  # fmt: skip

    assert modes_of(watched) == before
    assert stat.S_IMODE(Path("/root").stat().st_mode) == 0o700
    if AS_ROOT:  # it runs the programs linked into the data directory; the private home stays closed to it
        assert program.is_relative_to(data_dir / f"postgres-{postgres_version()}")
        assert (read.returncode, read.stdout) == (1, "")
        assert "Permission denied" in read.stderr
    else:
        assert program.is_relative_to(site)
        assert read.stdout == "DB_PASSWORD=hunter2\n"


def test_a_private_directory_above_the_data_dir_is_never_opened_up(tmp_path: Path) -> None:
    parent = tmp_path / "private"
    parent.mkdir()
    parent.chmod(0o700)
    before = modes_of([tmp_path, parent])

    if AS_ROOT:  # its server user cannot get through: refused, in one line saying where and what to do
        with pytest.raises(EmbeddedPostgresError) as refused, embedded_postgres(parent / "data"):
            pass
        message = str(refused.value)
        assert "\n" not in message
        assert f"{SERVER_USER} cannot reach {parent / 'data'}: {parent} (mode 700, owner root)" in message
        assert "ORG_AGENTS_DATA_DIR" in message
        assert postmaster_pid(parent / "data") is None
    else:  # the server runs as us, who may reach it
        with embedded_postgres(parent / "data") as conninfo:
            assert answers(conninfo)

    assert modes_of([tmp_path, parent]) == before


def test_a_data_dir_of_another_user_is_refused_and_left_alone(tmp_path: Path) -> None:
    if AS_ROOT:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    else:
        theirs = Path(tempfile.gettempdir())  # root's
    before = modes_of([theirs])

    with pytest.raises(EmbeddedPostgresError, match=r"belongs to .*, not to .*: use a data directory of your own"):
        EmbeddedPostgres(theirs).acquire()
    assert modes_of([theirs]) == before
    if AS_ROOT:
        assert list(theirs.iterdir()) == []


def test_the_socket_is_in_the_data_dir_when_its_path_fits_and_there_is_no_tcp_listener(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path) as conninfo, psycopg.connect(conninfo) as conn:
        assert socket_dir_of(conninfo) == tmp_path / "run"
        run = (tmp_path / "run").lstat()
        assert stat.S_ISDIR(run.st_mode)
        assert (stat.S_IMODE(run.st_mode), run.st_uid) == (0o700, server_uid())
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)


def test_a_data_dir_too_deep_for_a_socket_path_gets_a_new_private_socket_dir_never_a_planted_one(
    tmp_path: Path,
) -> None:
    deep = tmp_path.joinpath(*["d" * 20] * 6)
    assert len(os.fsencode(deep / "run" / ".s.PGSQL.5432")) > 107
    # Where it used to go: a name anyone could compute and plant, here a link by nobody to a directory of theirs.
    planted = Path(tempfile.gettempdir()) / f"org-agents-{hashlib.sha256(str(deep).encode()).hexdigest()[:16]}"
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o755)
    os.symlink(victim, planted)
    try:
        if AS_ROOT:
            os.lchown(planted, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        before = modes_of([victim, planted])

        with embedded_postgres(deep) as conninfo:
            socket_dir = socket_dir_of(conninfo)
            assert socket_dir.parent == Path(tempfile.gettempdir())
            assert socket_dir.name.startswith(TEMP_SOCKET_PREFIX)
            assert len(socket_dir.name) >= len(TEMP_SOCKET_PREFIX) + 8  # mkdtemp's random part
            made = socket_dir.lstat()
            assert stat.S_ISDIR(made.st_mode)
            assert (stat.S_IMODE(made.st_mode), made.st_uid) == (0o700, server_uid())
            assert answers(conninfo)
            with holder(deep) as (_, second):  # another process finds the same socket
                assert second == conninfo
                assert answers(second)

        assert not socket_dir.exists()  # removed with the server: nothing left in /tmp
        assert modes_of([victim, planted]) == before
        assert list(victim.iterdir()) == []
    finally:
        planted.unlink()


def test_a_killed_server_s_temporary_socket_dir_is_replaced_at_the_next_start_and_removed_at_the_end(
    tmp_path: Path,
) -> None:
    deep = tmp_path.joinpath(*["d" * 20] * 6)
    server = EmbeddedPostgres(deep)
    server.acquire()
    try:
        first = server.socket_dir()
        server.kill()
        start_again(server)
        second = server.socket_dir()
        assert second != first
        assert not first.exists()
        assert answers(server.conninfo("postgres"))
    finally:
        server.release()
    assert not second.exists()


def test_under_root_the_server_s_programs_are_linked_into_the_data_dir_once_per_version(tmp_path: Path) -> None:
    installed = tmp_path / f"postgres-{postgres_version()}"
    with embedded_postgres(tmp_path):
        program = Path(os.readlink(f"/proc/{postmaster_pid(tmp_path)}/exe"))

    if AS_ROOT:
        assert program == installed / "embedded_postgres" / "pginstall" / "bin" / "postgres"
        made = installed.stat()
        assert (stat.S_IMODE(made.st_mode), made.st_uid) == (0o755, 0)
        with embedded_postgres(tmp_path):
            pass
        assert installed.stat().st_ino == made.st_ino  # not made again
        assert not list(tmp_path.glob(".postgres-*"))  # nor a half-made one left
    else:  # an ordinary user runs the wheel's own programs
        assert program == bin_dir() / "postgres"
        assert not installed.exists()


def test_files_written_into_the_cluster_never_follow_a_link_planted_there(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with embedded_postgres(data_dir):
        pass
    victim = tmp_path / "victim.conf"
    victim.write_text("untouched\n")
    conf = data_dir / "pgdata" / "org_agents.conf"
    conf.unlink()
    os.symlink(victim, conf)  # as the server's user could, owning the cluster directory
    if AS_ROOT:
        os.lchown(conf, server_uid(), pwd.getpwnam(SERVER_USER).pw_gid)
    before = modes_of([victim])

    with embedded_postgres(data_dir) as conninfo:
        assert answers(conninfo)

    assert victim.read_text() == "untouched\n"
    assert modes_of([victim]) == before
    assert not conf.is_symlink()


@contextmanager
def own_copy_for(user: str) -> Iterator[Path]:
    """A directory of `user`'s own under the temp dir with copies of what HOLDER needs (this launcher, psycopg and
    the server's programs): the clone and its venv may sit where `user` may not read, root's 0700 home say."""
    home = Path(tempfile.mkdtemp(prefix="org-agents-ordinary-"))
    try:
        code = home / "code"
        (code / "adapters").mkdir(parents=True)
        for name in ("__init__.py", "embedded_postgres.py"):
            shutil.copyfile(REPO / "adapters" / name, code / "adapters" / name)
        for dist in ("psycopg", "psycopg-binary", "typing-extensions"):
            for file in importlib.metadata.files(dist) or []:
                source = Path(str(file.locate()))
                if ".." in file.parts or "__pycache__" in file.parts or not source.is_file():
                    continue
                (code / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, code / file)
        install_postgres(code, link=False)
        entry = pwd.getpwnam(user)
        for path in [home, *home.rglob("*")]:
            os.lchown(path, entry.pw_uid, entry.pw_gid)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_an_ordinary_user_runs_its_own_server(tmp_path: Path) -> None:
    # Under root (as in CI) `nobody`, with its own group only, from a copy of its own: the only way to exercise the
    # non-root path there, from a clone anywhere. As an ordinary user, every test here is it; this one too.
    user = "nobody" if AS_ROOT else None
    clone = modes_of([*REPO.parents, REPO])
    with nullcontext(tmp_path) if user is None else own_copy_for(user) as home:
        data_dir = home / "data"
        code = f"{home / 'code'}" if user else None
        with holder(data_dir, user=user, pythonpath=code, cwd=home) as (proc, conninfo):
            assert answers(conninfo)
            pid = postmaster_pid(data_dir)
            assert pid is not None
            assert os.stat(f"/proc/{pid}").st_uid == (pwd.getpwnam(user).pw_uid if user else os.geteuid())
            status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            if user:  # not root's group, which would let it read what root's group may
                assert status["Gid"].split()[0] == str(pwd.getpwnam(user).pw_gid)
                assert status["Groups"].split() in ([], [str(pwd.getpwnam(user).pw_gid)])
            proc.communicate(input="", timeout=60)
            assert proc.returncode == 0
        assert postmaster_pid(data_dir) is None
    assert modes_of([*REPO.parents, REPO]) == clone
    if user:
        assert not home.exists()


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
                start_again(server)
                assert server.is_running()
                assert answers(server.conninfo("postgres"))
            finally:
                stranger.kill()
    finally:
        server.release()
