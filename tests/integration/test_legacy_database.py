"""A database of the old system (org_agent.py on Supabase), migrated: every agent, integer, name and timestamp kept.

The old database is built as the old system left it (research/old-system.md §1.4): its org_agents table with integer
agent_ids that have gaps (agents 4-6 and 8-11 were deleted), its identity sequence where the old system left it, its
trigger, indexes and view, and beside it the old system's organization, users and user_organizations tables.
"""

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from adapters.embedded_postgres import bin_dir
from adapters.postgres.migrations import load_migrations, migrate_down, migrate_up
from application.agents import CreateAgent, GetAgent, ListAgents, create_agent, get_agent, list_agents
from application.deps import Deps
from domain.agents import AgentStatus
from domain.roles import Role
from entrypoints.bootstrap import postgres_deps
from entrypoints.settings import Settings
from tests.contract.conftest import principal
from tests.integration.catalog import contents, snapshot
from tests.legacy import LEGACY_AGENTS_TABLE

MIGRATIONS = load_migrations()
IDENTITY_MIGRATION = next(m for m in MIGRATIONS if m.name == "0013_keep_legacy_identity")
BEFORE_IDENTITY = MIGRATIONS[: MIGRATIONS.index(IDENTITY_MIGRATION)]
MIGRATIONS_DIR = Path(__file__).parents[2] / "migrations"

SHOPWISE: Final = UUID("5d1f6c2a-0b7e-4c1d-9e55-3f2a1b0c9d8e")
AMI: Final = UUID("9a7b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")
DORMANT: Final = UUID("c0ffee00-1234-4abc-8def-0123456789ab")
MINH: Final = "user_Mn8x2Kq9LpR4sT6vW1yZ3a"
AN: Final = "user_An4b7Cd0EfGh1Ij2Kl3Mn5"
LAN: Final = "user_Ln6o9Pq8Rs7Tu5Vw4Xy3Za1"

# The old system's tables, as its SQL scripts made them (organization has no CREATE TABLE in the old repository:
# its columns are the ones orgdb.py and update_organization_table.sql use).
OLD_SCHEMA: Final = (
    """
    CREATE TABLE users (
        id VARCHAR(255) PRIMARY KEY,
        email VARCHAR(255) UNIQUE NOT NULL,
        name VARCHAR(255) NOT NULL,
        phone VARCHAR(50),
        organization VARCHAR(255),
        password_hash TEXT,
        org_id VARCHAR(255),
        role VARCHAR(50) DEFAULT 'user',
        avatar TEXT,
        provider VARCHAR(50) DEFAULT 'email',
        google_id VARCHAR(255),
        email_verified BOOLEAN DEFAULT false,
        created_at TIMESTAMPTZ DEFAULT NOW(),
        updated_at TIMESTAMPTZ DEFAULT NOW()
    );
    CREATE TABLE organization (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        org_id SERIAL UNIQUE,
        name VARCHAR(255) NOT NULL,
        description TEXT,
        email VARCHAR(255),
        phone VARCHAR(50),
        address TEXT,
        created_date TIMESTAMPTZ DEFAULT NOW()
    );
    CREATE TABLE user_organizations (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id VARCHAR(255) NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        org_id UUID NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
        role VARCHAR(50) NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
        joined_at TIMESTAMPTZ DEFAULT NOW(),
        UNIQUE (user_id, org_id)
    );
    CREATE FUNCTION update_updated_at_column() RETURNS TRIGGER AS $$
    BEGIN
        NEW.updated_at = NOW();
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
"""
    + LEGACY_AGENTS_TABLE
    + """
    CREATE TRIGGER update_org_agents_updated_at BEFORE UPDATE ON org_agents
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE INDEX idx_org_agents_org_id ON org_agents (org_id);
    CREATE INDEX idx_org_agents_status ON org_agents (status);
    CREATE INDEX idx_org_agents_created_by ON org_agents (created_by);
    CREATE INDEX idx_org_agents_created_at ON org_agents (created_at);
    CREATE INDEX idx_org_agents_name ON org_agents (name);
    CREATE INDEX idx_org_agents_org_status ON org_agents (org_id, status);
    CREATE INDEX idx_org_agents_org_created_by ON org_agents (org_id, created_by);
    CREATE VIEW active_org_agents AS
        SELECT id, agent_id, org_id, name, description, system_prompt, tools_list, knowledge_list, created_by,
               created_at, updated_at
        FROM org_agents WHERE status = 'active';
"""
)

# Rows are stored in this order (agent 12 first), so the import of 0005, which numbers them as it reads them, gives
# none of them its own number.
OLD_ROWS: Final = f"""
    INSERT INTO organization (id, name, description, email, created_date) VALUES
        ('{SHOPWISE}', 'Shopwise Fashion', 'Online fashion store', 'hello@shopwise.vn',
         '2025-02-10 10:00:00.000001+07'),
        ('{AMI}', 'Ami Labs', NULL, 'team@ami.ai', '2025-01-05 08:30:00+00'),
        ('{DORMANT}', 'Dormant Co', 'never made an agent', NULL, '2025-05-01 12:00:00+00');
    INSERT INTO users (id, email, name, org_id, role, provider, email_verified, created_at) VALUES
        ('{MINH}', 'minh@shopwise.vn', 'Minh Tran', '{SHOPWISE}', 'admin', 'email', true, '2025-02-10 10:05:00+07'),
        ('{AN}', 'an@shopwise.vn', 'An Le', '{SHOPWISE}', 'user', 'google', true, '2025-02-11 09:00:00+07'),
        ('{LAN}', 'lan@ami.ai', 'Lan Pham', '{AMI}', 'user', 'email', false, '2025-01-05 08:31:00+00');
    INSERT INTO user_organizations (user_id, org_id, role, joined_at) VALUES
        ('{MINH}', '{SHOPWISE}', 'owner', '2025-02-10 10:05:00+07'),
        ('{AN}', '{SHOPWISE}', 'member', '2025-02-11 09:00:00+07'),
        ('{LAN}', '{AMI}', 'admin', '2025-01-05 08:31:00+00'),
        ('{LAN}', '{SHOPWISE}', 'member', '2025-03-01 00:00:00+00');
    INSERT INTO org_agents (id, agent_id, org_id, name, description, system_prompt, tools_list, knowledge_list,
                            status, created_by, created_at, updated_at) VALUES
        ('a0000000-0000-4000-8000-000000000012', 12, '{SHOPWISE}', 'Returns Desk', 'Handles returns and exchanges.',
         DEFAULT, DEFAULT, '["returns-policy-2025"]', 'active', '{AN}',
         '2025-07-20 08:00:00.5+07', '2025-07-21 17:45:12.000007+07'),
        ('a0000000-0000-4000-8000-000000000003', 3, '{AMI}', 'Ami Assistant',
         E'Line one\\nLine "two" with a \\\\ backslash, và tiếng Việt',
         '{{"role": "assistant", "tone": "warm", "languages": ["en", "vi"], "limits": {{"max_tokens": 800}}}}',
         '["web_search", "calendar"]', '["handbook.pdf"]', 'active', '{LAN}',
         '2025-04-02 14:03:27.654321+00', '2025-04-02 14:03:27.654321+00'),
        ('a0000000-0000-4000-8000-000000000007', 7, '{AMI}', 'Old Intake', 'replaced by Ami Assistant',
         '{{"role": "intake"}}', '[]', '[]', 'delete', '{LAN}',
         '2025-03-15 00:00:00+00', '2025-04-03 09:00:00.25+00'),
        ('a0000000-0000-4000-8000-000000000001', 1, '{SHOPWISE}', 'Shop Buddy', 'Answers shoppers',
         '{{"role": "customer_support", "tone": "friendly"}}', '["order_lookup", "size_chart"]',
         '["faq.md", "shipping-rates"]', 'active', '{MINH}',
         '2025-03-01 09:15:00.123456+07', '2025-06-30 23:59:59.999999+00'),
        ('a0000000-0000-4000-8000-000000000002', 2, '{SHOPWISE}', 'Stylist', NULL,
         '{{"role": "stylist", "tone": "playful", "emoji": true}}', '["lookbook"]', '[]', 'deactive', '{AN}',
         '2025-03-02 10:00:00+07', '2025-05-05 05:05:05.050505+07');
    SELECT setval('org_agents_agent_id_seq', 12);  -- the last number the old system handed out
"""
OLD_DATABASE: Final = OLD_SCHEMA + OLD_ROWS
OLD_TABLES: Final = ("org_agents", "organization", "users", "user_organizations")
NUMBERS: Final = {1: "Shop Buddy", 2: "Stylist", 3: "Ami Assistant", 7: "Old Intake", 12: "Returns Desk"}
LEGACY_COLUMNS: Final = ("id", "agent_id", "org_id", "name", "description", "status", "created_by", "created_at",
                         "updated_at")  # fmt: skip

# The seed's views and their columns (research/old-system.md §1.5), which psql users' queries name.
SEED_VIEW_COLUMNS: Final = {
    "active_agents_with_blueprints": [
        "id", "agent_id", "org_id", "name", "description", "status", "created_by", "created_at", "updated_at",
        "blueprint_id", "blueprint_version", "agent_blueprint", "conversation_id",
    ],
    "compiled_agent_blueprints": [
        "id", "agent_id", "version", "agent_blueprint", "compiled_system_prompt", "compiled_at", "compiled_by",
        "created_at", "created_by", "conversation_id",
    ],
    "agents_with_compiled_blueprints": [
        "id", "agent_id", "org_id", "name", "description", "status", "created_by", "created_at", "updated_at",
        "blueprint_id", "blueprint_version", "agent_blueprint", "compiled_system_prompt", "compiled_at",
        "compiled_by", "conversation_id",
    ],
}  # fmt: skip


def _run(conninfo: str, text: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(text.encode())


def _fetch(conninfo: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query.encode(), params).fetchall()


def _old_system(conninfo: str) -> dict[str, int]:
    """Builds the old database; the old tables and the old sequence by their oids (0001 renames org_agents)."""
    _run(conninfo, OLD_DATABASE)
    rows = _fetch(conninfo, "SELECT relname, oid::int AS oid FROM pg_class WHERE relname = ANY(%s)",
                  [[*OLD_TABLES, "org_agents_agent_id_seq"]])  # fmt: skip
    return {row["relname"]: row["oid"] for row in rows}


def _untouched(conninfo: str, oids: dict[str, int]) -> dict[str, object]:
    """Each old table's rows exactly as stored: their text, and where and by which transaction each was written (an
    UPDATE, even one that changes nothing, writes a new row version); its file (a rewrite makes a new one); the old
    sequence's position; and the catalog entries of the tables that keep their names."""
    found: dict[str, object] = {}
    with psycopg.connect(conninfo) as conn:
        for table, oid in oids.items():
            name = conn.execute("SELECT relname, relfilenode::text FROM pg_class WHERE oid = %s", [oid]).fetchone()
            assert name is not None
            if table.endswith("_seq"):
                query = sql.SQL("SELECT last_value, is_called FROM {}").format(sql.Identifier(name[0]))
            else:
                query = sql.SQL("SELECT ctid::text, xmin::text, t::text FROM {} t ORDER BY ctid").format(
                    sql.Identifier(name[0])
                )
            found[table] = (name[1], conn.execute(query).fetchall())
    shot = snapshot(conninfo)
    kept_names = {"organization", "users", "user_organizations", "organization_org_id_seq", "update_updated_at_column"}
    found["catalog"] = {kind: [row for row in rows if row[0] in kept_names] for kind, rows in shot.items()}
    return found


def _agents(conninfo: str) -> list[dict[str, Any]]:
    """The agents by number (before the migrations, the old system's rows)."""
    return _fetch(conninfo, "SELECT * FROM org_agents ORDER BY agent_id")


def _renumbering_events(conninfo: str) -> list[dict[str, Any]]:
    return _fetch(
        conninfo,
        "SELECT target_id, agent_id, org_id, action, details FROM agent_audit_events"
        " WHERE actor = 'migration:0013' ORDER BY details -> 'after' ->> 'agent_id'",
    )


def _psql(conninfo: str, migration_name: str) -> None:
    subprocess.run(
        [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f",
         str(MIGRATIONS_DIR / f"{migration_name}.sql"), conninfo],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def test_the_old_database_migrates_with_every_agent_integer_name_and_timestamp_intact(database: str) -> None:
    oids = _old_system(database)
    before = _untouched(database, oids)
    legacy = _agents(database)

    migrate_up(database, BEFORE_IDENTITY)  # how a database that migrated before 0013 stands
    imported = {row["id"]: row["agent_id"] for row in _agents(database)}
    assert sorted(imported.values()) == [1, 2, 3, 4, 5]  # 0005 renumbered them
    migrate_up(database, MIGRATIONS)

    assert _untouched(database, oids) == before
    agents = _agents(database)
    assert {a["agent_id"]: a["name"] for a in agents} == NUMBERS
    assert [{c: a[c] for c in LEGACY_COLUMNS} for a in agents] == [{c: r[c] for c in LEGACY_COLUMNS} for r in legacy]
    assert [a["current_blueprint_id"] for a in agents] == [None] * len(NUMBERS)
    assert [(a["created_at"].microsecond, a["updated_at"].microsecond) for a in agents] == [
        (123456, 999999), (0, 50505), (654321, 654321), (0, 250000), (500000, 7),
    ]  # fmt: skip
    versions = _fetch(
        database,
        "SELECT a.agent_id AS number, b.version, b.agent_blueprint, b.created_by, b.created_at, b.compilation_status"
        " FROM agent_blueprints b JOIN org_agents a ON a.id = b.agent_id ORDER BY a.agent_id",
    )
    assert versions == [
        {"number": r["agent_id"], "version": 1, "created_by": r["created_by"], "created_at": r["created_at"],
         "compilation_status": "draft",
         "agent_blueprint": {k: r[k] for k in ("system_prompt", "tools_list", "knowledge_list")}}
        for r in legacy
    ]  # fmt: skip
    organizations = _fetch(database, "SELECT id, name FROM agent_organizations ORDER BY name")
    assert organizations == [{"id": AMI, "name": "Ami Labs"}, {"id": SHOPWISE, "name": "Shopwise Fashion"}]
    assert _renumbering_events(database) == sorted(
        (
            {"target_id": a["id"], "agent_id": a["id"], "org_id": a["org_id"], "action": "agent.update",
             "details": {"before": {"agent_id": imported[a["id"]]}, "after": {"agent_id": a["agent_id"]},
                         "reason": "legacy agent_id restored"}}
            for a in agents if imported[a["id"]] != a["agent_id"]
        ),
        key=lambda e: str(e["details"]["after"]["agent_id"]),
    )  # fmt: skip
    assert len(_renumbering_events(database)) == len(NUMBERS)  # this fixture's order left no number in place
    imports = _fetch(database, "SELECT target_id FROM agent_audit_events WHERE action = 'agent.import'")
    assert sorted(e["target_id"] for e in imports) == sorted(r["id"] for r in legacy)
    # The old system's own view still reads its own, now frozen, table.
    assert _fetch(database, "SELECT agent_id FROM active_org_agents ORDER BY agent_id") == [
        {"agent_id": 1}, {"agent_id": 3}, {"agent_id": 12},
    ]  # fmt: skip


@pytest.fixture
async def old_deps(database: str, tmp_path: Path) -> AsyncIterator[Deps]:
    _old_system(database)
    migrate_up(database, MIGRATIONS)
    async with postgres_deps(Settings(database_url=database, data_dir=tmp_path), database) as made:
        yield made


@pytest.mark.anyio
async def test_new_agents_continue_after_the_largest_number_in_the_organization_found_by_its_old_name(
    old_deps: Deps,
) -> None:
    owner = await principal(old_deps, "Shopwise Fashion", MINH, Role.OWNER)
    assert owner.org_id == SHOPWISE  # the imported organization, not a new one of that name

    first = await create_agent(old_deps, owner, CreateAgent(name="Size Advisor"))
    second = await create_agent(old_deps, owner, CreateAgent(name="Gift Finder"))

    assert (first.number, second.number) == (13, 14)
    listed = await list_agents(old_deps, owner, ListAgents(limit=100))
    assert sorted((a.number, a.name) for a in listed.items) == [
        (1, "Shop Buddy"), (2, "Stylist"), (12, "Returns Desk"), (13, "Size Advisor"), (14, "Gift Finder"),
    ]  # fmt: skip
    ami = await principal(old_deps, "Ami Labs", LAN, Role.ADMIN)
    old_intake = await get_agent(old_deps, ami, GetAgent(agent_id=UUID("a0000000-0000-4000-8000-000000000007")))
    assert (old_intake.agent.number, old_intake.agent.status) == (7, AgentStatus.DELETE)


def test_psql_gives_the_old_database_what_the_runner_gives_it(pg_admin: str, database: str) -> None:
    _old_system(database)
    migrate_up(database, MIGRATIONS)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS oa_test_legacy_psql WITH (FORCE)")
        conn.execute("CREATE DATABASE oa_test_legacy_psql")
    by_psql = make_conninfo(pg_admin, dbname="oa_test_legacy_psql")
    try:
        _old_system(by_psql)
        for migration in MIGRATIONS:
            _psql(by_psql, migration.name)
        assert contents(by_psql) == contents(database)
        assert snapshot(by_psql) == snapshot(database)
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS oa_test_legacy_psql WITH (FORCE)")


def test_undoing_0013_and_doing_it_again_gives_the_same_result(database: str) -> None:
    oids = _old_system(database)
    old = _untouched(database, oids)
    through_identity = MIGRATIONS[: MIGRATIONS.index(IDENTITY_MIGRATION) + 1]  # 0013 as the last one applied
    migrate_up(database, through_identity)
    done = contents(database), snapshot(database)

    assert migrate_down(database, through_identity) == IDENTITY_MIGRATION
    assert contents(database) == done[0]  # numbers and names stay: valid data for 0012's schema
    columns = _fetch(database, "SELECT column_name FROM information_schema.columns"
                               " WHERE table_name = 'active_agents_with_blueprints'")  # fmt: skip
    assert "blueprint_id" not in {c["column_name"] for c in columns}
    migrate_up(database, through_identity)

    assert (contents(database), snapshot(database)) == done
    assert _untouched(database, oids) == old


def test_correcting_an_earlier_import_gives_back_numbers_taken_since_and_keeps_names_chosen_since(
    database: str,
) -> None:
    oids = _old_system(database)
    old = _untouched(database, oids)
    migrate_up(database, BEFORE_IDENTITY)
    # Since then: two agents made (numbered 6 and 7 after the import's 1..5), an organization made by
    # `token create --org "Ami Labs"` while the old one was still named by its id, and the old Shopwise renamed.
    made = _fetch(
        database,
        "INSERT INTO org_agents (org_id, name, created_by, created_at, updated_at) VALUES"
        " (%(org)s, 'Made since, 6', 'ana', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00'),"
        " (%(org)s, 'Made since, 7', 'ana', '2026-01-02 00:00:00+00', '2026-01-03 00:00:00+00')"
        " RETURNING id, agent_id, updated_at",
        {"org": SHOPWISE},
    )
    assert [m["agent_id"] for m in made] == [6, 7]
    _run(
        database,
        f"""INSERT INTO agent_organizations (id, name) VALUES ('00000000-0000-4000-8000-00000000000a', 'Ami Labs');
            UPDATE agent_organizations SET name = 'Shopwise VN' WHERE id = '{SHOPWISE}';""",
    )

    migrate_up(database, MIGRATIONS)

    agents = {a["name"]: a for a in _agents(database)}
    assert {name: a["agent_id"] for name, a in agents.items()} == {
        **{name: number for number, name in NUMBERS.items()}, "Made since, 6": 6, "Made since, 7": 13,
    }  # fmt: skip
    updated = {a["id"]: a["updated_at"] for a in agents.values()}
    assert [updated[m["id"]] for m in made] == [m["updated_at"] for m in made]  # renumbering is no update of theirs
    moved = [e for e in _renumbering_events(database) if e["target_id"] == made[1]["id"]]
    assert [e["details"] for e in moved] == [
        {"before": {"agent_id": 7}, "after": {"agent_id": 13},
         "reason": "number given back to the legacy agent that had it"}
    ]  # fmt: skip
    assert {row["id"]: row["name"] for row in _fetch(database, "SELECT id, name FROM agent_organizations")} == {
        SHOPWISE: "Shopwise VN",
        AMI: "Ami Labs (9a7b3c4d)",
        UUID("00000000-0000-4000-8000-00000000000a"): "Ami Labs",
    }
    inserted = _fetch(
        database,
        "INSERT INTO org_agents (org_id, name, created_by) VALUES (%s, 'next', 'ana') RETURNING agent_id",
        [SHOPWISE],
    )
    assert inserted == [{"agent_id": 14}]
    assert _untouched(database, oids) == old


def test_no_new_agent_gets_a_number_the_old_system_already_handed_out(database: str) -> None:
    _old_system(database)
    _run(database, "SELECT setval('org_agents_agent_id_seq', 15)")  # agents 13 to 15 were made, then deleted

    migrate_up(database, MIGRATIONS)

    assert {a["agent_id"] for a in _agents(database)} == set(NUMBERS)
    assert _fetch(database, "SELECT nextval('org_agents_agent_id_seq') AS next") == [{"next": 16}]


# Legacy rows whose numbers cannot all be kept, and old names that cannot all be used as they are: agent_id here is a
# plain INTEGER column, as a hand-made copy of the old table might have it, with a duplicate and a NULL.
AWKWARD: Final = """
    CREATE TABLE organization (id UUID PRIMARY KEY, name TEXT);
    INSERT INTO organization VALUES
        ('a1000000-0000-4000-8000-000000000000', 'Acme'),
        ('a2000000-0000-4000-8000-000000000000', 'Acme'),
        ('b1000000-0000-4000-8000-000000000000', '   '),
        ('c1000000-0000-4000-8000-000000000000', '  ' || repeat('Long name ', 30));
    CREATE TABLE org_agents (
        id UUID PRIMARY KEY, agent_id INTEGER, org_id UUID, name TEXT, system_prompt JSONB, status TEXT,
        created_by TEXT, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ
    );
    INSERT INTO org_agents VALUES
        ('d0000000-0000-4000-8000-000000000001', 3, 'a1000000-0000-4000-8000-000000000000', 'first three', '{}',
         'active', 'u1', '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00'),
        ('d0000000-0000-4000-8000-000000000002', 3, 'a2000000-0000-4000-8000-000000000000', 'second three', '{}',
         'active', 'u1', '2025-02-01 00:00:00+00', '2025-02-01 00:00:00+00'),
        ('d0000000-0000-4000-8000-000000000003', 5, 'b1000000-0000-4000-8000-000000000000', 'five', '{}',
         'active', 'u1', '2025-03-01 00:00:00+00', '2025-03-01 00:00:00+00'),
        ('d0000000-0000-4000-8000-000000000004', NULL, 'c1000000-0000-4000-8000-000000000000', 'no number', '{}',
         'active', 'u1', '2025-04-01 00:00:00+00', '2025-04-01 00:00:00+00');
"""


def test_duplicate_or_missing_legacy_numbers_go_after_the_largest_and_clashing_names_get_their_id(
    database: str,
) -> None:
    _run(database, AWKWARD)

    migrate_up(database, MIGRATIONS)

    numbers = {a["name"]: a["agent_id"] for a in _agents(database)}
    assert numbers == {"first three": 3, "five": 5, "second three": 6, "no number": 7}
    reasons = {e["details"]["after"]["agent_id"]: e["details"]["reason"] for e in _renumbering_events(database)}
    assert reasons[6] == reasons[7] == "legacy agent_id missing or held by an earlier legacy row"
    names = {row["id"]: row["name"] for row in _fetch(database, "SELECT id, name FROM agent_organizations")}
    assert names == {
        UUID("a1000000-0000-4000-8000-000000000000"): "Acme (a1000000)",
        UUID("a2000000-0000-4000-8000-000000000000"): "Acme (a2000000)",
        UUID("b1000000-0000-4000-8000-000000000000"): "b1000000-0000-4000-8000-000000000000",
        UUID("c1000000-0000-4000-8000-000000000000"): ("Long name " * 30).strip()[:255].rstrip(),
    }
    assert _fetch(database, "SELECT nextval('org_agents_agent_id_seq') AS next") == [{"next": 8}]


def test_the_seed_view_columns_answer_under_their_old_names(migrated_database: str) -> None:
    for view, wanted in SEED_VIEW_COLUMNS.items():
        columns = _fetch(
            migrated_database,
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            [view],
        )
        assert set(wanted) <= {c["column_name"] for c in columns}, view
    _run(
        migrated_database,
        """INSERT INTO agent_organizations (id, name) VALUES ('00000000-0000-4000-8000-0000000000aa', 'acme');
           INSERT INTO org_agents (id, org_id, name, created_by) VALUES
               ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'live', 'ana'),
               ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-0000000000aa', 'idle', 'ana');
           SELECT update_blueprint_compilation(
               create_blueprint_version('00000000-0000-4000-8000-000000000001', '{"n": 1}', 'ana'), 'p', 'ana');
           UPDATE org_agents SET current_blueprint_id = (SELECT id FROM agent_blueprints)
           WHERE id = '00000000-0000-4000-8000-000000000001';""",
    )

    rows = _fetch(
        migrated_database,
        "SELECT name, blueprint_id, current_blueprint_id, blueprint_version FROM active_agents_with_blueprints"
        " ORDER BY name",
    )

    version = _fetch(migrated_database, "SELECT id FROM agent_blueprints")[0]["id"]
    assert rows == [
        {"name": "idle", "blueprint_id": None, "current_blueprint_id": None, "blueprint_version": None},
        {"name": "live", "blueprint_id": version, "current_blueprint_id": version, "blueprint_version": 1},
    ]
    live = _fetch(migrated_database, "SELECT blueprint_id FROM agents_with_compiled_blueprints WHERE name = 'live'")
    assert live == [{"blueprint_id": version}]


def test_every_update_of_an_agent_from_psql_maintains_updated_at_unless_it_sets_it(migrated_database: str) -> None:
    _run(
        migrated_database,
        """INSERT INTO agent_organizations (id, name) VALUES ('00000000-0000-4000-8000-0000000000aa', 'acme');
           INSERT INTO org_agents (org_id, name, created_by, created_at, updated_at)
           SELECT '00000000-0000-4000-8000-0000000000aa', 'agent ' || n, 'ana', '2020-01-01+00', '2020-01-01+00'
           FROM generate_series(1, 5) AS n;""",
    )

    with psycopg.connect(migrated_database) as conn:  # one transaction: one now()
        conn.execute("UPDATE org_agents SET description = 'touched' WHERE name IN ('agent 1', 'agent 2')")
        conn.execute("UPDATE org_agents SET status = 'deactive', updated_at = '2024-06-01+00' WHERE name = 'agent 3'")
        conn.execute(
            "UPDATE org_agents SET name = name WHERE name = 'agent 4'"
        )  # changes nothing: touched all the same
        conn.execute("UPDATE org_agents SET description = 'x', updated_at = updated_at WHERE name = 'agent 5'")
        now = conn.execute("SELECT now()::text").fetchall()[0][0]

    stored = _fetch(migrated_database, "SELECT name, updated_at::text AS at FROM org_agents ORDER BY name")
    with psycopg.connect(migrated_database) as conn:
        set_by_hand, untouched = conn.execute(
            "SELECT '2024-06-01+00'::timestamptz::text, '2020-01-01+00'::timestamptz::text"
        ).fetchall()[0]
    assert {row["name"]: row["at"] for row in stored} == {
        "agent 1": now, "agent 2": now, "agent 3": set_by_hand, "agent 4": now, "agent 5": untouched,
    }  # fmt: skip
