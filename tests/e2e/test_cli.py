"""The `org-agents` command as scripts use it: exact forms, exit codes and outputs, on a real PostgreSQL."""

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.conftest import database_url_env

pytestmark = pytest.mark.slow  # a process per command: a second or more each

ORG_AGENTS = str(Path(sys.executable).parent / "org-agents")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ORG_AGENTS, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def ok(*args: str, env: dict[str, str]) -> str:
    done = cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_token_create_prints_the_secret_alone_on_the_last_line_and_stores_only_its_hash(database: str) -> None:
    env = database_url_env(database)

    out = ok("token", "create", "--org", "acme", "--user", "ana", "--role", "owner", env=env)

    secret = out.splitlines()[-1]
    assert secret.startswith("oat_")
    assert " " not in secret
    assert len(secret) > 40
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT t::text AS row, t.secret_hash FROM agent_api_tokens t").fetchall()
    assert len(rows) == 1
    row_text, stored_hash = rows[0]
    assert bytes(stored_hash) == hashlib.sha256(secret.encode()).digest()
    assert secret not in row_text
    assert secret.removeprefix("oat_") not in row_text


def test_tokens_of_one_organization_share_it_and_the_list_never_shows_a_secret(database: str) -> None:
    env = database_url_env(database)
    first = ok("token", "create", "--org", "acme", "--user", "ana", "--role", "owner", env=env).splitlines()[-1]
    second = ok("token", "create", "--org", "acme", "--user", "bo", "--role", "member", env=env).splitlines()[-1]
    ok("token", "create", "--org", "other", "--user", "cy", "--role", "admin", env=env)

    listing = ok("token", "list", "--org", "acme", env=env)

    header, *lines = listing.splitlines()
    assert header == "id\tuser\trole\tcreated\trevoked\tscope\texpires\tlast_used\tname"
    assert [line.split("\t")[1:3] for line in lines] == [["ana", "owner"], ["bo", "member"]]
    assert all(line.split("\t")[4:] == ["-", "manage", "-", "-", "-"] for line in lines)
    assert first not in listing
    assert second not in listing
    with psycopg.connect(database) as conn:
        orgs = conn.execute("SELECT name FROM agent_organizations ORDER BY name").fetchall()
    assert orgs == [("acme",), ("other",)]


def test_a_revoked_token_is_listed_with_its_revocation_time(database: str) -> None:
    env = database_url_env(database)
    ok("token", "create", "--org", "acme", "--user", "ana", "--role", "admin", env=env)
    token_id = ok("token", "list", "--org", "acme", env=env).splitlines()[1].split("\t")[0]

    assert ok("token", "revoke", token_id, env=env).startswith(f"revoked {token_id}")
    ok("token", "revoke", token_id, env=env)  # idempotent

    (line,) = ok("token", "list", "--org", "acme", env=env).splitlines()[1:]
    assert line.split("\t")[4] != "-"


def test_a_runtime_key_gets_its_scope_name_and_expiry(database: str) -> None:
    env = database_url_env(database)
    made = ok(
        "token", "create", "--org", "acme", "--user", "shop-runtime", "--role", "member", "--scope", "prompt",
        "--name", "Shop Buddy runtime", "--expires", "2h", env=env,
    )  # fmt: skip

    assert "scope prompt, until " in made.splitlines()[0]
    (line,) = ok("token", "list", "--org", "acme", env=env).splitlines()[1:]
    _, user, role, _, revoked, scope, expires, last_used, name = line.split("\t")
    assert (user, role, revoked, scope, last_used, name) == (
        "shop-runtime",
        "member",
        "-",
        "prompt",
        "-",
        "Shop Buddy runtime",
    )
    left = datetime.fromisoformat(expires) - datetime.now(UTC)
    assert timedelta(hours=1, minutes=58) < left <= timedelta(hours=2)


@pytest.mark.parametrize("expires", ["2027-01-31T00:00:00", "tomorrow", "0d", "1y"])
def test_an_expiry_without_a_zone_or_unit_is_refused_before_anything_is_made(database: str, expires: str) -> None:
    done = cli(
        "token", "create", "--org", "acme", "--user", "ana", "--role", "owner", "--expires", expires,
        env=database_url_env(database),
    )  # fmt: skip

    assert done.returncode == 2
    assert "--expires" in done.stderr
    with psycopg.connect(database) as conn:  # refused while reading the command line: not even migrated
        assert conn.execute("SELECT to_regclass('agent_api_tokens')").fetchone() == (None,)


def test_revoking_an_unknown_token_fails_with_a_message(database: str) -> None:
    done = cli("token", "revoke", "00000000-0000-4000-8000-000000000000", env=database_url_env(database))

    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "org-agents: no token 00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "args",
    [
        ("token", "create", "--org", "acme", "--user", "ana", "--role", "root"),
        ("token", "create", "--org", "acme", "--role", "owner"),
        ("token", "revoke", "not-a-uuid"),
        ("migrate", "sideways"),
        ("serve", "--port", "eighty"),
    ],
)
def test_malformed_commands_exit_2_with_usage(args: tuple[str, ...], database: str) -> None:
    done = cli(*args, env=database_url_env(database))

    assert done.returncode == 2
    assert "usage: org-agents" in done.stderr


def test_blank_names_are_refused(database: str) -> None:
    done = cli("token", "create", "--org", "  ", "--user", "ana", "--role", "owner", env=database_url_env(database))

    assert done.returncode == 2
    assert "org" in done.stderr


def test_migrate_status_down_and_up(database: str) -> None:
    env = database_url_env(database)
    pending = ok("migrate", "status", env=env).splitlines()
    assert pending
    assert all(line.startswith("pending  ") for line in pending)

    assert ok("migrate", env=env).strip() == f"{len(pending)} migration(s) applied"
    assert ok("migrate", "up", env=env).strip() == "up to date"
    applied = ok("migrate", "status", env=env).splitlines()
    assert [line.split()[:2] for line in applied] == [["applied", line.split()[1]] for line in pending]

    last = pending[-1].split()[1]
    assert ok("migrate", "down", "--yes", env=env).strip() == f"undid {last}"
    assert ok("migrate", "status", env=env).splitlines()[-1] == f"pending  {last}"
    assert ok("migrate", "up", env=env).strip() == "1 migration(s) applied"


def test_migrate_status_exits_1_when_an_applied_file_is_unknown(database: str) -> None:
    env = database_url_env(database)
    ok("migrate", env=env)
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO agent_schema_migrations (version, name, checksum, execution_ms) VALUES (99, '0099_x', 'x', 0)"
        )

    done = cli("migrate", "status", env=env)

    assert done.returncode == 1
    assert "unknown  0099_x" in done.stdout
    refused = cli("migrate", "up", env=env)
    assert refused.returncode == 2
    assert "newer than the code" in refused.stderr


def test_an_unreachable_database_exits_3_with_a_message() -> None:
    env = database_url_env("postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2")

    done = cli("migrate", "status", env=env)

    assert done.returncode == 3
    assert done.stderr.startswith("org-agents: cannot reach the database")


def test_a_bad_setting_exits_2_naming_it() -> None:
    done = cli("migrate", "status", env={"ORG_AGENTS_POOL_MAX_SIZE": "lots", "DATABASE_URL": "postgresql://x/y"})

    assert done.returncode == 2
    assert "ORG_AGENTS_POOL_MAX_SIZE" in done.stderr
