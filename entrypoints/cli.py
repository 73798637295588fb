"""The `org-agents` command: serve, migrate, token, export, import. Scripts depend on these exact forms and outputs."""

import argparse
import asyncio
import errno
import importlib.metadata
import os
import re
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from uuid import UUID

from application.tokens import CreateToken, ListTokens, RevokeToken, create_token, list_tokens, revoke_token
from application.transfer import (
    ExportOrganization,
    ImportOrganization,
    describe,
    export_organization,
    import_organization,
)
from domain.errors import DomainError, Unavailable
from domain.roles import Role, Scope
from entrypoints.bootstrap import (
    DATABASE_UNREACHABLE,
    STORAGE_REFUSED,
    apply_migrations,
    database,
    ensure_reachable,
    identity_of,
    migration_status,
    organization_archive,
    postgres_deps,
    quotas_of,
    service_database,
    undo_last_migration,
    webhook_backlog,
)
from entrypoints.metrics_listener import SCRAPE_QUERY_TIMEOUT_S, metrics_listener
from entrypoints.serve import serve_granian, serve_uvicorn
from entrypoints.settings import ENVIRONMENT, METRICS_ADDR, Settings, SettingsError, configure_logging

SERVERS = ("granian", "uvicorn")
DEFAULT_SERVER = "granian"  # chosen by measurement: BENCHMARKS.md
DEFAULT_WORKERS = min(len(os.sched_getaffinity(0)), 4)  # one per core, measured: BENCHMARKS.md

REFUSED: tuple[type[Exception], ...] = (SettingsError, DomainError, *STORAGE_REFUSED)  # exit 2, with the message
UNREACHABLE: tuple[type[Exception], ...] = (*DATABASE_UNREACHABLE, Unavailable)  # exit 3; checked before REFUSED


def _environment_help() -> str:
    width = max(len(name) for name in ENVIRONMENT)
    lines = [f"  {name.ljust(width)}  {meaning}" for name, meaning in ENVIRONMENT.items()]
    return "environment variables (read once at startup):\n" + "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="org-agents", description="Organizations' AI agents and their blueprints.", epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"org-agents {importlib.metadata.version('org-agents')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--no-migrate", action="store_true", help="serve without applying pending migrations")
    serve.add_argument(
        "--workers", type=_positive, default=DEFAULT_WORKERS,
        help=f"worker processes, each with its own pool and live cache (default {DEFAULT_WORKERS})",
    )  # fmt: skip
    serve.add_argument(
        "--server", choices=SERVERS, default=DEFAULT_SERVER,
        help=f"the ASGI server (default {DEFAULT_SERVER}; see BENCHMARKS.md for why)",
    )  # fmt: skip

    migrate = commands.add_parser("migrate", help="apply (up), undo the last (down) or list (status) migrations")
    migrate.add_argument("action", nargs="?", choices=["up", "down", "status"], default="up")
    migrate.add_argument("--yes", action="store_true", help="down: undo without asking")

    token = commands.add_parser("token", help="create, list or revoke API tokens")
    token_commands = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="mint a token; it is printed once, on the last line")
    create.add_argument("--org", required=True, help="organization name (created when new)")
    create.add_argument("--user", required=True, help="user id the token acts as")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--scope", choices=[scope.value for scope in Scope], default=Scope.MANAGE.value,
        help="manage: what the role allows (default); prompt: only live prompts and /whoami, for an LLM runtime",
    )  # fmt: skip
    create.add_argument("--name", help="what the token is for, as people will read it in lists")
    create.add_argument(
        "--expires", type=_expiry, metavar="WHEN",
        help="when it stops working: a duration from now (90d, 12h, 30m) or a time with its zone "
        "(2027-01-31T00:00:00Z); never by default",
    )  # fmt: skip
    listing = token_commands.add_parser("list", help="tokens of an organization (never the secrets)")
    listing.add_argument("--org", required=True, help="organization name")
    revoke = token_commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=UUID, help="the token id shown by `token list`")

    export = commands.add_parser("export", help="write one organization (never its tokens) as one JSON document")
    export.add_argument("--org", required=True, help="organization name")
    export.add_argument(
        "--output", type=Path, metavar="FILE",
        help="write it to FILE, which appears only once complete (default: stdout)",
    )  # fmt: skip
    load = commands.add_parser("import", help="load an export with its ids, all or nothing")
    load.add_argument("--org", required=True, help="organization name: created when new, else it must have no agents")
    load.add_argument("file", metavar="FILE", help="what `org-agents export` wrote; - reads stdin")
    return parser


DURATION = re.compile(r"([1-9][0-9]{0,5})([dhm])")
DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _expiry(text: str) -> datetime:
    if found := DURATION.fullmatch(text):
        return datetime.now(UTC) + timedelta(**{DURATION_UNITS[found[2]]: int(found[1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (90d, 12h, 30m) nor an ISO 8601 time: {text!r}") from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time zone too (2027-01-31T00:00:00Z), not {text!r}")
    return when


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _one_line(exc: BaseException) -> str:
    """libpq's messages run over several lines (a hint on the second): an error is one line of the log."""
    return " ".join(str(exc).split())


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Each worker builds the app itself (`app_from_env`) from the environment, to which the chosen database's
    conninfo is added; the embedded PostgreSQL, when used, belongs to this process and outlives the workers."""
    identity_of(settings)  # an unusable JWKS file stops `serve` here (exit 2), not in every worker's startup
    _ensure_free(args.host, args.port)
    if settings.metrics_addr is not None and settings.metrics_addr[1] == args.port:
        raise PortInUse(f"{METRICS_ADDR} must name a port other than serve's own ({args.port})")
    with database(settings) as conninfo:
        if args.no_migrate:
            ensure_reachable(conninfo, settings.pool_timeout_s)  # one line and exit 3, not a traceback per worker
        else:
            apply_migrations(conninfo, log=_stderr)
        conninfo = service_database(settings, conninfo)  # migrations were the owner's; the workers are not
        os.environ["DATABASE_URL"] = conninfo
        serve = serve_granian if args.server == "granian" else serve_uvicorn
        with metrics_listener(settings.metrics_addr, lambda: webhook_backlog(conninfo, SCRAPE_QUERY_TIMEOUT_S)):
            serve(host=args.host, port=args.port, workers=args.workers, log_level=settings.log_level,
                  max_watchers=settings.max_watchers, client_timeout_s=settings.client_timeout_s)  # fmt: skip
    return 0


class PortInUse(SettingsError):
    pass


def _ensure_free(host: str, port: int) -> None:
    """The workers share their port (SO_REUSEPORT), and so would a second `serve` on the same port, taking half the
    requests: a port another server listens on is refused before anything starts. A port that is merely in
    TIME_WAIT after a stop is free (SO_REUSEADDR)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                why = "another server listens there" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise PortInUse(f"cannot listen on {host}:{port}: {why}") from None


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def _migrate(settings: Settings, action: str, *, yes: bool = False) -> int:
    with database(settings) as conninfo:
        if action == "up":
            applied = apply_migrations(conninfo, log=_stderr)
            print(f"{len(applied)} migration(s) applied" if applied else "up to date")
        elif action == "down":
            done = migration_status(conninfo).applied
            if not done:
                print("nothing to undo")
                return 0
            last = done[-1][0].name
            if not yes and not _confirmed(f"undo {last}? What it added is dropped."):
                _stderr(f"org-agents: migrate down would undo {last} and drop what it added; pass --yes to do it")
                return 2
            undone = undo_last_migration(conninfo, log=_stderr)
            print(f"undid {undone.name}" if undone else "nothing to undo")
        else:
            state = migration_status(conninfo)
            for migration, record in state.applied:
                flag = "  MODIFIED since applied" if migration in state.modified else ""
                print(f"applied  {migration.name}  {record.applied_at.isoformat(timespec='seconds')}{flag}")
            for migration in state.pending:
                print(f"pending  {migration.name}")
            for unknown in state.unknown:
                print(f"unknown  {unknown.name}  (applied, but not shipped with this version)")
            return 1 if state.problems else 0
    return 0


async def _token(settings: Settings, args: argparse.Namespace, conninfo: str) -> int:
    async with postgres_deps(settings, conninfo, follow_changes=False) as deps:
        if args.action == "create":
            issued = await create_token(
                deps,
                CreateToken(org_name=args.org, user_id=args.user, role=Role(args.role), scope=Scope(args.scope),
                            name=args.name, expires_at=args.expires),
            )  # fmt: skip
            info = issued.token
            until = f", until {_when(info.expires_at)}" if info.expires_at else ""
            print(
                f"token {info.id} for user {info.user_id!r} ({info.role}, scope {info.scope}{until}) "
                f"in organization {info.org_name!r}"
            )
            print(issued.secret)
        elif args.action == "list":
            # The first five columns are those of earlier versions, in their order: scripts may split on them.
            tokens = await list_tokens(deps, ListTokens(org_name=args.org))
            print("id\tuser\trole\tcreated\trevoked\tscope\texpires\tlast_used\tname")
            for info in tokens:
                print(
                    f"{info.id}\t{info.user_id}\t{info.role}\t{_when(info.created_at)}\t{_when(info.revoked_at)}\t"
                    f"{info.scope}\t{_when(info.expires_at)}\t{_when(info.last_used_at)}\t{info.name or '-'}"
                )
        else:
            info = await revoke_token(deps, RevokeToken(token_id=args.id))
            print(f"revoked {info.id} ({info.user_id}, {info.org_name}) at {_when(info.revoked_at)}")
    return 0


def _export(settings: Settings, args: argparse.Namespace, conninfo: str) -> int:
    archive, cmd = organization_archive(settings, conninfo), ExportOrganization(org_name=args.org)
    if args.output is None:
        done = asyncio.run(export_organization(archive, cmd, sys.stdout.buffer))
        sys.stdout.buffer.flush()
    else:  # beside its destination, renamed over it at the end: a failed export leaves no half a file behind
        target: Path = args.output
        try:  # mode 0600, kept by the rename: the file holds every prompt of the organization
            fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
        except OSError as exc:
            raise OSError(f"cannot write {target}: {exc.strerror}") from exc
        try:
            with open(fd, "wb") as out:
                done = asyncio.run(export_organization(archive, cmd, out))
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    _stderr(f"exported organization {done.org_name!r}: {describe(done.counts)}")
    return 0


def _import(settings: Settings, args: argparse.Namespace, conninfo: str) -> int:
    archive, cmd = organization_archive(settings, conninfo), ImportOrganization(org_name=args.org)
    quotas = quotas_of(settings)
    if args.file == "-":
        done = asyncio.run(import_organization(archive, cmd, sys.stdin.buffer, quotas=quotas))
    else:
        with Path(args.file).open("rb") as source:
            done = asyncio.run(import_organization(archive, cmd, source, quotas=quotas))
    print(f"imported organization {done.org_name!r} ({done.org_id}): {describe(done.counts)}")
    return 0


def _on_sigterm(signum: int, _: FrameType | None) -> None:
    # Unwind like Ctrl-C does, so the embedded PostgreSQL is released (and stopped if we were its last user).
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        settings = Settings.from_env(os.environ)
        configure_logging(settings)
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "migrate":
            return _migrate(settings, args.action, yes=args.yes)
        with database(settings) as conninfo:
            apply_migrations(conninfo, log=_stderr)  # tokens, exports and imports need their tables
            if args.command == "export":
                return _export(settings, args, conninfo)
            if args.command == "import":
                return _import(settings, args, conninfo)
            return asyncio.run(_token(settings, args, conninfo))
    except UNREACHABLE as exc:
        _stderr(f"org-agents: cannot reach the database: {_one_line(exc)}")
        return 3
    except REFUSED as exc:
        _stderr(f"org-agents: {_one_line(exc)}")
        return 2
    except OSError as exc:  # a FILE of export or import that cannot be written or read
        _stderr(f"org-agents: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
