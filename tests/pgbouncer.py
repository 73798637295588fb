"""Debian's PgBouncer in transaction pooling mode, in front of the test server, as many deployments run it."""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.serving import free_port

START_S = 10.0


def pgbouncer_path() -> str:
    found = shutil.which("pgbouncer") or next(
        (str(p) for p in (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer")) if p.exists()), None
    )
    if found is None:
        raise RuntimeError("PgBouncer is not installed: `apt-get install -y pgbouncer` (.ci/run does this)")
    return found


@contextmanager
def pgbouncer(admin: str) -> Iterator[str]:
    """A PgBouncer for the server `admin` names (any database, as its user); yields a conninfo like `admin`'s that
    goes through it. Under root it runs as the user that may reach the server (PgBouncer refuses root)."""
    server = conninfo_to_dict(admin)
    host, port, user = str(server.get("host", "127.0.0.1")), str(server.get("port", 5432)), str(server["user"])
    work = Path(tempfile.mkdtemp(prefix="org-agents-pgbouncer-"))
    work.chmod(0o755)
    listen = free_port()
    (work / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={host} port={port} user={user}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 40\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {work}/pgbouncer.log\n"
    )
    for name in ("pgbouncer.ini",):
        (work / name).chmod(0o644)
    log = work / "pgbouncer.log"
    log.touch()
    log.chmod(0o666)
    command = [pgbouncer_path(), str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:
        runs_as = "org-agents-pg" if host.startswith("/") else "nobody"
        command[1:1] = ["-u", runs_as]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # it logs to its file
    through = make_conninfo(admin, host="127.0.0.1", port=listen)
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                with psycopg.connect(through, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not start: {log.read_text()}") from None
                time.sleep(0.05)
        yield through
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def via(through: str, direct: str) -> str:
    """The conninfo of `direct`'s database, through the PgBouncer `through` names."""
    return make_conninfo(through, dbname=str(conninfo_to_dict(direct)["dbname"]))
