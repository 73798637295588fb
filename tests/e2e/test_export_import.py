"""`org-agents export` and `import` as operators run them: real processes on PostgreSQL, byte-for-byte round trips.

One source database is seeded once for the module: a small organization made through the use cases with every
feature (compiled, failed and draft versions, warnings, change notes, labels moved, protected and deleted, production
moved, deactivated and deleted agents, a revoked token), and an organization of 10,000 versions written with SQL.
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from adapters.postgres.migrations import load_migrations, migrate_up
from application.agents import CreateAgent, SetStatus, create_agent, deactivate_agent, delete_agent
from application.blueprints import ActivateVersion, AddVersion, CompileVersion, activate_version, add_version
from application.blueprints import compile_version as compile_
from application.labels import DeleteLabel, MoveLabel, ProtectLabel, delete_label, move_label_to, protect_label
from application.tokens import CreateToken, RevokeToken, create_token, revoke_token
from domain.compiler import compile_blueprint
from domain.errors import InvalidBlueprint
from domain.roles import Principal, Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.settings import Settings
from tests.conftest import create_database, database_conninfo, database_url_env
from tests.e2e.test_cli import ORG_AGENTS
from tests.samples import missing_identity_name, shop_buddy

SMALL: Final = "acme"
DEEP: Final = "deep"
DEEP_VERSIONS: Final = 10_000
MIB: Final = 1024 * 1024


class Ran(msgspec.Struct, frozen=True, kw_only=True):
    returncode: int
    stdout: bytes
    stderr: str
    seconds: float
    peak_rss_mib: float  # the command's own high-water mark, as the kernel reports it when the process is reaped


# The command is started by a small Python process, not by pytest: a child's peak RSS counts what it held before
# exec too, which for a child of pytest is all of pytest's memory. posix_spawn from this one adds ~10 MiB at most.
SPAWN: Final = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(*args: str, conninfo: str, workdir: Path, stdin: Path | None = None) -> Ran:
    """`org-agents ARGS` as a process of its own, timed, with its peak memory (wait4's, in KiB on Linux)."""
    peak = workdir / f"{uuid.uuid4().hex}.peak"
    started = time.perf_counter()
    with (stdin or Path(os.devnull)).open("rb") as given:
        command = [sys.executable, "-c", SPAWN, str(peak), ORG_AGENTS, *args]
        done = subprocess.run(command, stdin=given, env=database_url_env(conninfo), capture_output=True, timeout=300,
                              check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    peak_kib = int(peak.read_text())
    peak.unlink()
    return Ran(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr.decode(), seconds=seconds,
               peak_rss_mib=peak_kib / 1024)  # fmt: skip


def ok(*args: str, conninfo: str, workdir: Path, stdin: Path | None = None) -> Ran:
    ran = run(*args, conninfo=conninfo, workdir=workdir, stdin=stdin)
    assert ran.returncode == 0, ran.stderr
    return ran


def refused(*args: str, conninfo: str, workdir: Path) -> str:
    """The one line a refused command prints, after any migration it applied first."""
    ran = run(*args, conninfo=conninfo, workdir=workdir)
    assert ran.returncode == 2, (ran.returncode, ran.stderr)
    assert ran.stdout == b""
    (line,) = [line for line in ran.stderr.splitlines() if line.startswith("org-agents:")]
    assert "Traceback" not in ran.stderr
    return line


# -- databases ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def new_database(pg_admin: str) -> Iterator[Callable[[], str]]:
    """Makes migrated databases for the module's tests; all are dropped at its end."""
    made: list[str] = []

    def make() -> str:
        name = f"oa_transfer_{uuid.uuid4().hex[:12]}"
        create_database(pg_admin, name)
        made.append(name)
        conninfo = database_conninfo(pg_admin, name)
        migrate_up(conninfo, load_migrations())
        return conninfo

    yield make
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transfer")


async def _seed_small(conninfo: str, data_dir: Path) -> None:
    """Every feature an export carries, made as people make it."""
    async with postgres_deps(Settings(database_url=conninfo, data_dir=data_dir), conninfo,
                             follow_changes=False) as deps:  # fmt: skip
        made = await create_token(deps, CreateToken(org_name=SMALL, user_id="ana", role=Role.OWNER))
        member = await create_token(deps, CreateToken(org_name=SMALL, user_id="bo", role=Role.MEMBER, name="Bo"))
        await revoke_token(deps, RevokeToken(token_id=member.token.id))
        owner = Principal(org_id=made.token.org_id, user_id="ana", role=Role.OWNER)

        shop = await create_agent(deps, owner, CreateAgent(name="Shop Buddy", description="Answers shoppers"))
        first = await add_version(deps, owner, AddVersion(agent_id=shop.id, agent_blueprint=shop_buddy(),
                                                          conversation_id="conv-1", message="first cut"))  # fmt: skip
        await compile_(deps, owner, CompileVersion(agent_id=shop.id, version_id=first.id, activate=True))
        noisy = shop_buddy() | {"mood": "sunny", "ratio": 0.1, "big": 12345678901234567890}
        note = "unknown sections: compiled with warnings"
        warned = await add_version(deps, owner, AddVersion(agent_id=shop.id, agent_blueprint=noisy, message=note))
        await compile_(deps, owner, CompileVersion(agent_id=shop.id, version_id=warned.id))
        broken = await add_version(deps, owner, AddVersion(agent_id=shop.id, agent_blueprint=missing_identity_name()))
        with contextlib.suppress(InvalidBlueprint):  # recorded failed, then reported
            await compile_(deps, owner, CompileVersion(agent_id=shop.id, version_id=broken.id))
        await add_version(deps, owner, AddVersion(agent_id=shop.id, agent_blueprint=shop_buddy("Next"),
                                                  message="a draft, never compiled"))  # fmt: skip
        await move_label_to(deps, owner, MoveLabel(agent_id=shop.id, name="staging", blueprint_id=warned.id))
        await move_label_to(deps, owner, MoveLabel(agent_id=shop.id, name="staging", blueprint_id=first.id))
        await protect_label(deps, owner, ProtectLabel(agent_id=shop.id, name="staging", protected=True))
        await move_label_to(deps, owner, MoveLabel(agent_id=shop.id, name="canary", blueprint_id=warned.id))
        await delete_label(deps, owner, DeleteLabel(agent_id=shop.id, name="canary"))
        await activate_version(deps, owner, ActivateVersion(agent_id=shop.id, version_id=warned.id))

        retired = await create_agent(deps, owner, CreateAgent(name="Retired"))
        live = await add_version(deps, owner, AddVersion(agent_id=retired.id, agent_blueprint=shop_buddy("Old")))
        await compile_(deps, owner, CompileVersion(agent_id=retired.id, version_id=live.id, activate=True))
        await deactivate_agent(deps, owner, SetStatus(agent_id=retired.id))

        gone = await create_agent(deps, owner, CreateAgent(name="Gone"))
        await add_version(deps, owner, AddVersion(agent_id=gone.id, agent_blueprint=shop_buddy("Gone")))
        await delete_agent(deps, owner, SetStatus(agent_id=gone.id))

        await create_agent(deps, owner, CreateAgent(name="Empty, described", description="tab\there, ünïcode"))


# Versions as the service would have left them, three kinds in turn: compiled (with its warnings), a draft, failed.
INSERT_DEEP_VERSIONS: Final = """
    WITH inserted AS (
        INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, created_at, message,
                                      compilation_status, compiled_system_prompt, compiled_at, compiled_by,
                                      compiler_version, compile_errors, compile_warnings)
        SELECT gen_random_uuid(), %(agent_id)s, n, %(document)s, 'seeder', %(start)s + n * interval '1 millisecond',
               'note ' || n,
               (ARRAY['compiled', 'draft', 'failed'])[n %% 3 + 1],
               CASE WHEN n %% 3 = 0 THEN %(prompt)s END,
               CASE WHEN n %% 3 <> 1 THEN %(start)s + n * interval '1 millisecond' + interval '1 second' END,
               CASE WHEN n %% 3 <> 1 THEN 'seeder' END,
               CASE WHEN n %% 3 <> 1 THEN '1' END,
               CASE WHEN n %% 3 = 2 THEN '[{"field": "identity.name", "message": "required, non-blank"}]'::jsonb END,
               CASE WHEN n %% 3 <> 1 THEN '[]'::jsonb END
        FROM generate_series(1, %(versions)s) AS n
        RETURNING id, version, created_at
    )
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, agent_id, occurred_at, details)
    SELECT gen_random_uuid(), %(org_id)s, 'seeder', 'blueprint.create', id, %(agent_id)s, created_at,
           jsonb_build_object('version', version)
    FROM inserted
"""
DEEP_LABELS: Final = """
    WITH v AS (SELECT version, id FROM agent_blueprints WHERE agent_id = %(agent_id)s AND version IN (3, 9996, 9999)),
    production AS (
        UPDATE org_agents SET current_blueprint_id = (SELECT id FROM v WHERE version = 9999) WHERE id = %(agent_id)s
    ),
    label AS (
        INSERT INTO agent_labels (agent_id, name, blueprint_id, moved_by)
        SELECT %(agent_id)s, 'staging', id, 'seeder' FROM v WHERE version = 9996
    )
    INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, version, previous_blueprint_id,
                                   previous_version, moved_by)
    SELECT %(agent_id)s, 'staging', 1, (SELECT id FROM v WHERE version = 3), 3, NULL, NULL, 'seeder'
    UNION ALL
    SELECT %(agent_id)s, 'staging', 2, (SELECT id FROM v WHERE version = 9996), 9996,
           (SELECT id FROM v WHERE version = 3), 3, 'seeder'
"""


def _seed_deep(conninfo: str) -> None:
    prompt = compile_blueprint(shop_buddy()).prompt
    with psycopg.connect(conninfo) as conn:
        (org_id,) = (
            conn.execute("INSERT INTO agent_organizations (name) VALUES (%s) RETURNING id", (DEEP,)).fetchone() or ()
        )
        (agent_id,) = (
            conn.execute(
                "INSERT INTO org_agents (org_id, name, created_by) VALUES (%s, 'Deep', 'seeder') RETURNING id",
                (org_id,),
            ).fetchone()
            or ()
        )
        params = {"agent_id": agent_id, "org_id": org_id, "document": Jsonb(shop_buddy()), "prompt": prompt,
                  "start": datetime(2026, 1, 1, tzinfo=UTC), "versions": DEEP_VERSIONS}  # fmt: skip
        conn.execute(INSERT_DEEP_VERSIONS, params)
        conn.execute(DEEP_LABELS, {"agent_id": agent_id})


@pytest.fixture(scope="module")
def source(new_database: Callable[[], str], workdir: Path) -> str:
    conninfo = new_database()
    asyncio.run(_seed_small(conninfo, workdir))
    _seed_deep(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return conninfo


@pytest.fixture(scope="module")
def small_export(source: str, workdir: Path) -> bytes:
    return ok("export", "--org", SMALL, conninfo=source, workdir=workdir).stdout


def rows(conninfo: str) -> dict[str, int]:
    """How many rows the tables an import writes hold."""
    tables = ("agent_organizations", "org_agents", "agent_blueprints", "agent_labels", "agent_label_moves",
              "agent_audit_events")  # fmt: skip
    with psycopg.connect(conninfo) as conn:
        return {
            table: (conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone() or (0,))[
                0
            ]
            for table in tables
        }


# -- round trips ----------------------------------------------------------------------------------------------


def test_a_small_organization_comes_back_byte_for_byte(
    source: str, small_export: bytes, new_database: Callable[[], str], workdir: Path
) -> None:
    target = new_database()
    written = workdir / "acme.json"

    ok("export", "--org", SMALL, "--output", str(written), conninfo=source, workdir=workdir)
    imported = ok("import", "--org", SMALL, str(written), conninfo=target, workdir=workdir)
    with psycopg.connect(target, autocommit=True) as conn:  # times are written in UTC whatever the server's zone
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET TimeZone = 'Asia/Kathmandu'").format(sql.Identifier(conn.info.dbname))
        )
    again = ok("export", "--org", SMALL, conninfo=target, workdir=workdir).stdout

    assert written.read_bytes() == small_export  # --output and stdout write the same document
    assert again == small_export
    assert ok("export", "--org", SMALL, conninfo=source, workdir=workdir).stdout == small_export  # deterministic
    assert imported.stdout.decode().startswith(f"imported organization {SMALL!r} (")
    assert "4 agents, 6 versions" in imported.stdout.decode()
    doc = msgspec.json.decode(small_export)
    assert list(doc) == ["format", "format_version", "organization", "counts", "agents", "versions", "labels",
                         "label_moves", "audit_events"]  # fmt: skip
    assert (doc["format"], doc["format_version"]) == ("org-agents export", 1)
    assert [a["status"] for a in doc["agents"]] == ["active", "deactive", "delete", "active"]
    assert [a["number"] for a in doc["agents"]] == sorted(a["number"] for a in doc["agents"])
    assert {v["compilation_status"] for v in doc["versions"]} == {"compiled", "failed", "draft"}
    assert any(v["compile_warnings"] for v in doc["versions"])
    assert [(label["name"], label["protected"]) for label in doc["labels"]] == [("staging", True)]
    assert [(m["name"], m["seq"], m["version"]) for m in doc["label_moves"]] == [
        ("canary", 1, 2), ("canary", 2, None), ("production", 1, 1), ("production", 2, 2), ("staging", 1, 2),
        ("staging", 2, 1), ("production", 1, 1),
    ]  # the retired agent's production last: by agent number, then name and seq  # fmt: skip
    assert b"12345678901234567890" in small_export  # a document's numbers verbatim, not through a float
    assert b"secret" not in small_export
    assert b"oat_" not in small_export


def test_an_organization_with_tokens_and_no_agents_takes_the_import_and_serves_it(
    small_export: bytes, new_database: Callable[[], str], workdir: Path
) -> None:
    target = new_database()
    file = workdir / "serves.json"
    file.write_bytes(small_export)
    ok("token", "create", "--org", "restored", "--user", "ana", "--role", "owner", conninfo=target, workdir=workdir)

    ok("import", "--org", "restored", "-", conninfo=target, workdir=workdir, stdin=file)

    with psycopg.connect(target) as conn:
        served = conn.execute(
            "SELECT a.name, b.version FROM agents_with_compiled_blueprints a"
            " JOIN agent_blueprints b ON b.id = a.blueprint_id ORDER BY a.agent_id"
        ).fetchall()
        highest = (conn.execute("SELECT max(agent_id) FROM org_agents").fetchone() or (0,))[0]
        (org_id,) = conn.execute("SELECT id FROM agent_organizations WHERE name = 'restored'").fetchone() or ()
        (token_org,) = conn.execute("SELECT DISTINCT org_id FROM agent_api_tokens").fetchone() or ()
        agents_org = conn.execute("SELECT DISTINCT org_id FROM org_agents").fetchall()
        (number,) = (
            conn.execute(
                "INSERT INTO org_agents (org_id, name, created_by) VALUES (%s, 'New', 'ana') RETURNING agent_id",
                (org_id,),
            ).fetchone()
            or ()
        )
    assert served == [("Shop Buddy", 2), ("Retired", 1)]  # production as it was, the deactivated agent's too
    assert agents_org == [(org_id,)]
    assert token_org == org_id  # the organization the token was minted for, not the exported id
    assert number > highest  # new agents are numbered after the imported ones


@pytest.mark.slow
def test_ten_thousand_versions_come_back_byte_for_byte_in_bounded_memory(
    source: str, small_export: bytes, new_database: Callable[[], str], workdir: Path
) -> None:
    target = new_database()
    file, small_file = workdir / "deep.json", workdir / "small.json"

    baseline = ok("export", "--org", SMALL, "--output", str(small_file), conninfo=source, workdir=workdir)
    exported = ok("export", "--org", DEEP, "--output", str(file), conninfo=source, workdir=workdir)
    imported = ok("import", "--org", DEEP, str(file), conninfo=target, workdir=workdir)
    again = ok("export", "--org", DEEP, conninfo=target, workdir=workdir)

    size = file.stat().st_size
    assert again.stdout == file.read_bytes()
    assert f"1 agents, {DEEP_VERSIONS} versions, 1 labels, 2 label moves, {DEEP_VERSIONS} audit events" in (
        imported.stdout.decode()
    )
    print(  # the measurements the report quotes (pytest -s shows them)
        f"\n10,000 versions, {size / MIB:.1f} MiB: export {exported.seconds:.2f} s, peak RSS "
        f"{exported.peak_rss_mib:.0f} MiB; import {imported.seconds:.2f} s, peak RSS {imported.peak_rss_mib:.0f} MiB; "
        f"export of the small organization {baseline.seconds:.2f} s, peak RSS {baseline.peak_rss_mib:.0f} MiB"
    )
    # Holding the organization would cost at least its size again (the bytes alone; decoded, several times more).
    # Streaming holds a batch of rows or one line, and the import a few ids per version: measured, 4 to 5 MiB above
    # the small organization's export (which is the command's baseline, 49 MiB).
    assert size > 24 * MIB
    assert exported.peak_rss_mib - baseline.peak_rss_mib < 16
    assert imported.peak_rss_mib - baseline.peak_rss_mib < 16


# -- refusals ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_target(new_database: Callable[[], str]) -> str:
    """Migrated, and never given anything: every import into it is refused."""
    return new_database()


@pytest.fixture(scope="module")
def small_file(small_export: bytes, workdir: Path) -> Path:
    file = workdir / "small-export.json"
    file.write_bytes(small_export)
    return file


def test_an_organization_with_agents_is_refused_naming_it(source: str, small_file: Path, workdir: Path) -> None:
    before = rows(source)

    line = refused("import", "--org", SMALL, str(small_file), conninfo=source, workdir=workdir)

    assert line == "org-agents: organization 'acme' already has 4 agents; nothing was imported"
    assert rows(source) == before


def test_ids_taken_in_the_database_are_refused_naming_the_first(
    source: str, small_export: bytes, small_file: Path, new_database: Callable[[], str], workdir: Path
) -> None:
    first = msgspec.json.decode(small_export)["agents"][0]
    target = new_database()
    with psycopg.connect(target) as conn:  # another organization's agent holds the first agent's number
        (org_id,) = (
            conn.execute("INSERT INTO agent_organizations (name) VALUES ('other') RETURNING id").fetchone() or ()
        )
        conn.execute("INSERT INTO org_agents (org_id, agent_id, name, created_by) VALUES (%s, %s, 'Holder', 'cy')",
                     (org_id, first["number"]))  # fmt: skip
    before = {"source": rows(source), "target": rows(target)}

    in_the_same = refused("import", "--org", "acme-copy", str(small_file), conninfo=source, workdir=workdir)
    number_taken = refused("import", "--org", "acme-copy", str(small_file), conninfo=target, workdir=workdir)

    organization = msgspec.json.decode(small_export)["organization"]["id"]
    assert (
        in_the_same
        == f"org-agents: organization id {organization} already exists in this database; nothing was imported"
    )
    assert number_taken == (
        f"org-agents: agent number {first['number']} already exists in this database; nothing was imported"
    )
    assert {"source": rows(source), "target": rows(target)} == before


def _edited(export: bytes, section: str, index: int, change: dict[str, Any]) -> bytes:
    """The export with one record of a section changed, laid out as export lays it out."""
    lines = export.split(b"\n")
    start = lines.index(f'"{section}":['.encode()) + 1
    line = lines[start + index]
    comma = line.endswith(b",")
    record = msgspec.json.decode(line.rstrip(b","))
    lines[start + index] = msgspec.json.encode(record | change) + (b"," if comma else b"")
    return b"\n".join(lines)


def _version_index(export: bytes, status: str) -> tuple[int, dict[str, Any]]:
    versions = msgspec.json.decode(export)["versions"]
    return next((n, v) for n, v in enumerate(versions) if v["compilation_status"] == status)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ("truncated in a line", "it is truncated"),
        ("truncated at a line's end", "it is truncated"),
        ("a compiled version without its prompt", "compiled, but compiled_system_prompt is empty"),
        ("a label on a draft", "is version 4, a draft: only a compiled version is labelled"),
        ("a version lost", "version 4 where 3 comes next"),
    ],
)
def test_a_truncated_or_edited_file_is_refused_naming_its_line(
    small_export: bytes, empty_target: str, workdir: Path, edit: str, says: str
) -> None:
    lines = small_export.split(b"\n")
    if edit == "truncated in a line":
        broken = small_export[: len(small_export) * 2 // 3]
    elif edit == "truncated at a line's end":
        broken = b"\n".join(lines[: len(lines) * 2 // 3]) + b"\n"
    elif edit == "a compiled version without its prompt":
        n, _ = _version_index(small_export, "compiled")
        broken = _edited(small_export, "versions", n, {"compiled_system_prompt": None})
    elif edit == "a label on a draft":
        _, draft = _version_index(small_export, "draft")
        broken = _edited(small_export, "labels", 0, {"blueprint_id": draft["id"]})
    else:
        n, _ = _version_index(small_export, "failed")
        start = lines.index(b'"versions":[') + 1
        broken = b"\n".join(lines[: start + n] + lines[start + n + 1 :])
    file = workdir / f"{uuid.uuid4().hex}.json"
    file.write_bytes(broken)
    before = rows(empty_target)

    line = refused("import", "--org", SMALL, str(file), conninfo=empty_target, workdir=workdir)

    assert line.startswith("org-agents: line ")
    assert says in line
    assert line.endswith("; nothing was imported")
    assert rows(empty_target) == before


def test_exporting_an_unknown_organization_is_refused_and_writes_no_file(source: str, workdir: Path) -> None:
    file = workdir / "nobody.json"

    line = refused("export", "--org", "nobody", "--output", str(file), conninfo=source, workdir=workdir)

    assert line == "org-agents: no organization named 'nobody'"
    assert not file.exists()
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".nobody.json")] == []


def test_a_file_that_cannot_be_read_or_written_is_refused_naming_it(source: str, workdir: Path) -> None:
    missing = workdir / "no-such-dir" / "acme.json"

    unwritable = refused("export", "--org", SMALL, "--output", str(missing), conninfo=source, workdir=workdir)
    unreadable = refused("import", "--org", "elsewhere", str(missing), conninfo=source, workdir=workdir)

    assert unwritable == f"org-agents: cannot write {missing}: No such file or directory"
    assert unreadable.startswith("org-agents: [Errno 2] No such file or directory")
    assert str(missing) in unreadable
