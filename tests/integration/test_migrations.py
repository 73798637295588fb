"""The migrations on a real PostgreSQL: the seed's schema, safe steps up and down, the runner's guarantees."""

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Final
from uuid import UUID

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from adapters.embedded_postgres import bin_dir
from adapters.postgres.migrations import MigrationError, load_migrations, migrate_down, migrate_up, status
from adapters.postgres.usage import slot_of
from tests.conftest import database_url_env
from tests.integration.catalog import snapshot

MIGRATIONS = load_migrations()
MIGRATIONS_DIR = Path(__file__).parents[2] / "migrations"

SEED_VIEWS = {"active_agents_with_blueprints", "compiled_agent_blueprints", "agents_with_compiled_blueprints"}
SEED_FUNCTIONS = {
    "get_latest_blueprint_version",
    "create_blueprint_version",
    "update_blueprint_compilation",
    "mark_compilation_failed",
    "get_org_compilation_stats",
}

# The old system's table, as the seed's first migration found it, beside two of its other tables.
LEGACY_SCHEMA = """
    CREATE TABLE organization (id UUID PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT NOT NULL, org_id UUID REFERENCES organization (id));
    CREATE TABLE org_agents (
        id SERIAL PRIMARY KEY,
        org_id UUID NOT NULL,
        name VARCHAR(255) NOT NULL,
        description TEXT,
        system_prompt TEXT,
        tools_list JSONB,
        knowledge_list JSONB,
        status VARCHAR(20) DEFAULT 'active',
        created_by VARCHAR(255),
        created_at TIMESTAMPTZ DEFAULT now(),
        updated_at TIMESTAMPTZ DEFAULT now()
    );
    CREATE INDEX org_agents_org_id_idx ON org_agents (org_id);
    INSERT INTO organization VALUES ('7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11', 'Acme');
    INSERT INTO users (email, org_id) VALUES ('ana@acme.test', '7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11');
    INSERT INTO org_agents (org_id, name, description, system_prompt, tools_list, knowledge_list, status, created_by)
    VALUES
        ('7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11', 'Helpdesk', 'answers tickets', 'You are Helpdesk.',
         '[{"name": "ticket_lookup"}]', '["faq.md"]', 'active', 'ana'),
        ('7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11', 'Old bot', NULL, 'You were a bot.', NULL, '[]', 'inactive', NULL),
        ('2b0d3c7a-1111-4e2b-8f00-5a6b7c8d9e0f', 'Gone', 'removed', '', '[]', '[]', 'deleted', 'bo');
"""


def _fetch(conninfo: str, query: str) -> list[dict[str, object]]:
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        return conn.execute(query.encode()).fetchall()


def _tables(conninfo: str) -> set[str]:
    rows = _fetch(conninfo, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return {str(row["tablename"]) for row in rows}


def _run_sql(conninfo: str, text: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(text.encode())


def test_migrating_an_empty_database_creates_the_seed_schema(database: str) -> None:
    applied = migrate_up(database, MIGRATIONS)

    assert [m.name for m in applied] == [m.name for m in MIGRATIONS]
    assert {"org_agents", "agent_blueprints", "agent_organizations", "agent_api_tokens", "agent_audit_events"} <= (
        _tables(database)
    )
    shot = snapshot(database)
    assert {row[0] for row in shot["views"]} >= SEED_VIEWS
    assert {row[0] for row in shot["functions"]} >= SEED_FUNCTIONS
    assert "agent_blueprints_agent_id_version_key" in {row[1] for row in shot["constraints"]}
    assert "org_agents_legacy" not in _tables(database)
    state = status(database, MIGRATIONS)
    assert (len(state.applied), state.pending, state.problems) == (len(MIGRATIONS), [], [])


def test_migrating_twice_applies_nothing_the_second_time(database: str) -> None:
    migrate_up(database, MIGRATIONS)

    assert migrate_up(database, MIGRATIONS) == []


def test_every_migration_undoes_to_the_schema_before_it_and_redoes_to_the_same(database: str) -> None:
    before = [snapshot(database, with_positions=False)]
    for step in range(1, len(MIGRATIONS) + 1):
        migrate_up(database, MIGRATIONS[:step])
        before.append(snapshot(database, with_positions=False))

        undone = migrate_down(database, MIGRATIONS[:step])
        assert undone == MIGRATIONS[step - 1]
        assert snapshot(database, with_positions=False) == before[step - 1], f"down of {undone.name}"

        migrate_up(database, MIGRATIONS[:step])
        assert snapshot(database, with_positions=False) == before[step], f"redo of {MIGRATIONS[step - 1].name}"

    for step in reversed(range(len(MIGRATIONS))):
        migrate_down(database, MIGRATIONS)
        assert snapshot(database, with_positions=False) == before[step]
    assert migrate_down(database, MIGRATIONS) is None


def test_psql_single_transaction_runs_give_the_schema_the_runner_gives(pg_admin: str, database: str) -> None:
    migrate_up(database, MIGRATIONS)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS oa_test_psql WITH (FORCE)")
        conn.execute("CREATE DATABASE oa_test_psql")
    by_psql = make_conninfo(pg_admin, dbname="oa_test_psql")
    try:
        for migration in MIGRATIONS:
            subprocess.run(
                [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f",
                 str(MIGRATIONS_DIR / f"{migration.name}.sql"), by_psql],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        assert snapshot(by_psql) == snapshot(database)
    finally:
        with psycopg.connect(pg_admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS oa_test_psql WITH (FORCE)")


def test_a_legacy_table_is_kept_and_its_rows_imported_verbatim(database: str) -> None:
    _run_sql(database, LEGACY_SCHEMA)
    others_before = _fetch(database, "SELECT * FROM users"), _fetch(database, "SELECT * FROM organization")
    legacy_before = _fetch(database, "SELECT * FROM org_agents ORDER BY id")

    migrate_up(database, MIGRATIONS)

    assert _fetch(database, "SELECT * FROM org_agents_legacy ORDER BY id") == legacy_before
    assert (_fetch(database, "SELECT * FROM users"), _fetch(database, "SELECT * FROM organization")) == others_before
    agents = _fetch(
        database,
        """SELECT a.name, a.description, a.status, a.created_by, a.org_id::text AS org, b.version,
                  b.agent_blueprint, b.compilation_status
           FROM org_agents a JOIN agent_blueprints b ON b.agent_id = a.id ORDER BY a.name""",
    )
    assert [(a["name"], a["status"], a["created_by"], a["version"], a["compilation_status"]) for a in agents] == [
        ("Gone", "delete", "bo", 1, "draft"),
        ("Helpdesk", "active", "ana", 1, "draft"),
        ("Old bot", "deactive", "legacy-import", 1, "draft"),
    ]
    helpdesk = agents[1]
    assert helpdesk["agent_blueprint"] == {
        "system_prompt": "You are Helpdesk.",
        "tools_list": [{"name": "ticket_lookup"}],
        "knowledge_list": ["faq.md"],
    }
    assert helpdesk["org"] == "7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11"
    # 0013: named as the old organization table names it; an organization it does not know keeps its id as name.
    organizations = _fetch(database, "SELECT id::text, name FROM agent_organizations ORDER BY name")
    assert organizations == [
        {"id": "2b0d3c7a-1111-4e2b-8f00-5a6b7c8d9e0f", "name": "2b0d3c7a-1111-4e2b-8f00-5a6b7c8d9e0f"},
        {"id": "7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11", "name": "Acme"},
    ]
    imports = _fetch(database, "SELECT count(*) AS n FROM agent_audit_events WHERE action = 'agent.import'")
    assert imports == [{"n": 3}]


def test_undoing_every_migration_gives_the_legacy_table_back_untouched(database: str) -> None:
    _run_sql(database, LEGACY_SCHEMA)
    legacy_before = _fetch(database, "SELECT * FROM org_agents ORDER BY id")
    schema_before = snapshot(database)

    migrate_up(database, MIGRATIONS)
    while migrate_down(database, MIGRATIONS) is not None:
        pass

    assert _fetch(database, "SELECT * FROM org_agents ORDER BY id") == legacy_before
    assert snapshot(database) == schema_before


def test_an_org_agents_table_of_another_shape_is_refused_and_left_alone(database: str) -> None:
    _run_sql(
        database, "CREATE TABLE org_agents (id INT PRIMARY KEY, label TEXT); INSERT INTO org_agents VALUES (1, 'x')"
    )

    with pytest.raises(psycopg.errors.RaiseException, match="not the legacy table"):
        migrate_up(database, MIGRATIONS)

    assert _fetch(database, "SELECT * FROM org_agents") == [{"id": 1, "label": "x"}]
    assert status(database, MIGRATIONS).applied == []


def test_an_applied_file_edited_afterwards_is_refused(database: str) -> None:
    migrate_up(database, MIGRATIONS[:2])
    edited = [*MIGRATIONS]
    edited[1] = dataclasses.replace(MIGRATIONS[1], up_sql=MIGRATIONS[1].up_sql + "\n-- a harmless edit\n")

    state = status(database, edited)
    assert state.modified == [edited[1]]
    with pytest.raises(MigrationError, match=r"0002_create_org_agents_schema\.sql was edited"):
        migrate_up(database, edited)
    with pytest.raises(MigrationError, match="edited"):
        migrate_down(database, edited)
    assert len(status(database, MIGRATIONS).applied) == 2


def test_a_database_newer_than_the_code_is_refused(database: str) -> None:
    migrate_up(database, MIGRATIONS)
    older_code = MIGRATIONS[:-1]

    assert [a.name for a in status(database, older_code).unknown] == [MIGRATIONS[-1].name]
    with pytest.raises(MigrationError, match="newer than the code"):
        migrate_up(database, older_code)


def test_a_failing_migration_leaves_nothing_of_itself(database: str) -> None:
    broken = [*MIGRATIONS[:2], dataclasses.replace(MIGRATIONS[2], up_sql=MIGRATIONS[2].up_sql + "\nSELECT 1/0;\n")]
    migrate_up(database, broken[:2])
    shot = snapshot(database)

    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate_up(database, broken)

    assert snapshot(database) == shot
    assert [m.name for m, _ in status(database, MIGRATIONS).applied] == [m.name for m in MIGRATIONS[:2]]


def test_concurrent_deployers_apply_each_file_exactly_once(database: str) -> None:
    deployers = [
        subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "migrate", "up"],
            env=database_url_env(database),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [deployer.communicate(timeout=120) for deployer in deployers]

    assert [deployer.returncode for deployer in deployers] == [0, 0, 0, 0], outputs
    applied_lines = [line for _, err in outputs for line in err.splitlines() if line.startswith("applied ")]
    assert sorted(line.split()[1] for line in applied_lines) == [m.name for m in MIGRATIONS]
    recorded = _fetch(database, "SELECT version FROM agent_schema_migrations ORDER BY version")
    assert [row["version"] for row in recorded] == list(range(1, len(MIGRATIONS) + 1))


# -- 0009: release labels ------------------------------------------------------------------------------------------

LABELS_MIGRATION = next(m for m in MIGRATIONS if m.name == "0009_add_release_labels")

AN_AGENT_WITH_TWO_VERSIONS = """
    INSERT INTO agent_organizations (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'acme');
    INSERT INTO org_agents (id, org_id, name, created_by) VALUES
        ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-00000000000a', 'one', 'ana'),
        ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-00000000000a', 'two', 'ana');
    INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, compilation_status,
                                  compiled_system_prompt, compiled_at) VALUES
        ('00000000-0000-0000-0000-000000000101', '00000000-0000-0000-0000-000000000001', 1, '{}', 'ana', 'compiled',
         'p1', now()),
        ('00000000-0000-0000-0000-000000000102', '00000000-0000-0000-0000-000000000001', 2, '{}', 'ana', 'compiled',
         'p2', now()),
        ('00000000-0000-0000-0000-000000000201', '00000000-0000-0000-0000-000000000002', 1, '{}', 'ana', 'draft',
         NULL, NULL);
    UPDATE org_agents SET current_blueprint_id = '00000000-0000-0000-0000-000000000101'
    WHERE id = '00000000-0000-0000-0000-000000000001';
"""
ONE: Final = "00000000-0000-0000-0000-000000000001"
ONE_V1: Final = "00000000-0000-0000-0000-000000000101"
ONE_V2: Final = "00000000-0000-0000-0000-000000000102"
TWO_V1: Final = "00000000-0000-0000-0000-000000000201"


def _label(conninfo: str, name: str, agent: str = ONE, blueprint: str = ONE_V2) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO agent_labels (agent_id, name, blueprint_id, moved_by) VALUES (%s, %s, %s, 'psql')",
            (agent, name, blueprint),
        )


@pytest.mark.parametrize(
    "name", ["production", "latest", "", "Staging", "-x", ".x", "_x", "a b", "stagé", "a" * 37, "a\nb", "staging\n"]
)
def test_the_labels_table_refuses_reserved_and_malformed_names(migrated_database: str, name: str) -> None:
    _run_sql(migrated_database, AN_AGENT_WITH_TWO_VERSIONS)

    with pytest.raises((psycopg.errors.CheckViolation, psycopg.errors.StringDataRightTruncation)):
        _label(migrated_database, name)

    assert _fetch(migrated_database, "SELECT count(*) AS n FROM agent_labels") == [{"n": 0}]


@pytest.mark.parametrize("name", ["staging", "a", "0", "a" * 36, "v1.2_rc-3"])
def test_the_labels_table_takes_the_names_the_domain_takes(migrated_database: str, name: str) -> None:
    _run_sql(migrated_database, AN_AGENT_WITH_TWO_VERSIONS)

    _label(migrated_database, name)

    assert _fetch(migrated_database, "SELECT name FROM agent_labels") == [{"name": name}]


def test_a_label_may_only_name_a_version_of_its_own_agent(migrated_database: str) -> None:
    _run_sql(migrated_database, AN_AGENT_WITH_TWO_VERSIONS)

    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _label(migrated_database, "staging", blueprint=TWO_V1)
    with psycopg.connect(migrated_database) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, previous_blueprint_id, moved_by)"
            " VALUES (%s, 'staging', 1, %s, %s, 'psql')",
            (ONE, ONE_V1, TWO_V1),
        )
    with psycopg.connect(migrated_database) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, moved_by) VALUES (%s, 'x', 0, %s, 'p')",
            (ONE, ONE_V1),
        )


def test_deleting_an_agent_from_psql_takes_its_labels_and_their_history_with_it(migrated_database: str) -> None:
    _run_sql(migrated_database, AN_AGENT_WITH_TWO_VERSIONS)
    _label(migrated_database, "staging")
    with psycopg.connect(migrated_database) as conn:
        conn.execute(
            "INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, moved_by)"
            " VALUES (%s, 'staging', 1, %s, 'psql')",
            (ONE, ONE_V2),
        )

    with psycopg.connect(migrated_database) as conn:
        conn.execute("DELETE FROM org_agents WHERE id = %s", (ONE,))

    assert _fetch(migrated_database, "SELECT count(*) AS n FROM agent_labels") == [{"n": 0}]
    assert _fetch(migrated_database, "SELECT count(*) AS n FROM agent_label_moves") == [{"n": 0}]


def test_undoing_0009_keeps_production_and_drops_the_other_labels_and_redoing_starts_with_none(database: str) -> None:
    upto = MIGRATIONS[: MIGRATIONS.index(LABELS_MIGRATION) + 1]
    migrate_up(database, upto)
    _run_sql(database, AN_AGENT_WITH_TWO_VERSIONS)
    _label(database, "staging")

    assert migrate_down(database, upto) == LABELS_MIGRATION
    assert {"agent_labels", "agent_label_moves"}.isdisjoint(_tables(database))
    production = "SELECT current_blueprint_id::text AS live FROM org_agents WHERE name = 'one'"
    assert _fetch(database, production) == [{"live": ONE_V1}]

    migrate_up(database, upto)
    assert _fetch(database, "SELECT count(*) AS n FROM agent_labels") == [{"n": 0}]
    assert _fetch(database, production) == [{"live": ONE_V1}]
    _label(database, "staging")  # the table works again, constraints and all
    with pytest.raises(psycopg.errors.CheckViolation):
        _label(database, "latest")


# -- 0011: the audit trail, readable -------------------------------------------------------------------------------

AUDIT_MIGRATION = next(m for m in MIGRATIONS if m.name == "0011_read_audit_trail")

# Written before 0011, beside AN_AGENT_WITH_TWO_VERSIONS: an event of each kind, and two whose target is no agent of
# the event's own organization.
EVENTS_OF_EACH_KIND = """
    INSERT INTO agent_organizations (id, name) VALUES ('00000000-0000-0000-0000-00000000000b', 'globex');
    INSERT INTO org_agents (id, org_id, name, created_by)
    VALUES ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-00000000000b', 'theirs', 'bo');
    INSERT INTO agent_api_tokens (id, org_id, user_id, role, secret_hash)
    VALUES ('00000000-0000-0000-0000-000000000301', '00000000-0000-0000-0000-00000000000a', 'ana', 'owner',
            decode(repeat('ab', 32), 'hex'));
    INSERT INTO agent_audit_events (id, org_id, actor, action, target_id, details) VALUES
        ('00000000-0000-0000-0000-000000000901', '00000000-0000-0000-0000-00000000000a', 'ana', 'agent.create',
         '00000000-0000-0000-0000-000000000001', '{"name": "one"}'),
        ('00000000-0000-0000-0000-000000000902', '00000000-0000-0000-0000-00000000000a', 'ana', 'blueprint.create',
         '00000000-0000-0000-0000-000000000102', '{"agent_id": "00000000-0000-0000-0000-000000000001", "version": 2}'),
        ('00000000-0000-0000-0000-000000000903', '00000000-0000-0000-0000-00000000000a', 'ana', 'label.move',
         '00000000-0000-0000-0000-000000000001', '{"label": "production"}'),
        ('00000000-0000-0000-0000-000000000904', '00000000-0000-0000-0000-00000000000a', 'ana', 'blueprint.compile',
         '00000000-0000-0000-0000-000000000201', '{"agent_id": "00000000-0000-0000-0000-000000000002"}'),
        ('00000000-0000-0000-0000-000000000905', '00000000-0000-0000-0000-00000000000a', 'operator', 'token.create',
         '00000000-0000-0000-0000-000000000301', '{}'),
        ('00000000-0000-0000-0000-000000000906', '00000000-0000-0000-0000-00000000000a', 'ana', 'agent.update',
         '00000000-0000-0000-0000-000000000003', '{}'),
        ('00000000-0000-0000-0000-000000000907', '00000000-0000-0000-0000-00000000000a', 'ana', 'agent.update',
         '00000000-0000-0000-0000-0000000009ff', '{}');
"""
AGENT_OF_EACH_EVENT: Final = {
    "00000000-0000-0000-0000-000000000901": ONE,  # an agent's: its target
    "00000000-0000-0000-0000-000000000902": ONE,  # a version's: the version's agent
    "00000000-0000-0000-0000-000000000903": ONE,  # a label's: its agent, the target
    "00000000-0000-0000-0000-000000000904": "00000000-0000-0000-0000-000000000002",
    "00000000-0000-0000-0000-000000000905": None,  # a token's: no agent
    "00000000-0000-0000-0000-000000000906": None,  # an agent of another organization
    "00000000-0000-0000-0000-000000000907": None,  # nothing known
}


EVENTS: Final = "SELECT id::text, action, target_id::text, agent_id::text FROM agent_audit_events ORDER BY id"


def test_0011_gives_every_earlier_event_the_agent_it_is_about(database: str) -> None:
    _run_sql(database, LEGACY_SCHEMA)  # 0005 imports its agents, each with an agent.import event
    before = MIGRATIONS[: MIGRATIONS.index(AUDIT_MIGRATION)]
    migrate_up(database, before)
    _run_sql(database, AN_AGENT_WITH_TWO_VERSIONS + EVENTS_OF_EACH_KIND)

    migrate_up(database, MIGRATIONS)

    events = _fetch(database, EVENTS)
    imports = [e for e in events if e["action"] == "agent.import"]
    assert len(imports) == 3
    assert all(e["agent_id"] == e["target_id"] for e in imports)
    assert {e["id"]: e["agent_id"] for e in events if e["action"] != "agent.import"} == AGENT_OF_EACH_EVENT
    while migrate_down(database, MIGRATIONS) != AUDIT_MIGRATION:
        pass
    migrate_up(database, MIGRATIONS)  # undone and redone: found again, from the same targets
    assert _fetch(database, EVENTS) == events


# -- 0016: usage counted for the quotas ----------------------------------------------------------------------------

USAGE_MIGRATION = next(m for m in MIGRATIONS if m.name == "0016_add_usage")
USAGE: Final = "SELECT org_id::text, slot, agents, versions, stored_bytes FROM agent_org_usage ORDER BY org_id, slot"


def _usage_by_hand(conninfo: str) -> list[dict[str, object]]:
    """What 0016 should find, counted here from the rows: agents not deleted, versions, their documents' text."""
    counts: dict[tuple[str, int], list[int]] = {}
    agents = _fetch(conninfo, "SELECT id, org_id::text AS org, status FROM org_agents")
    slot = {row["id"]: (str(row["org"]), slot_of(UUID(str(row["id"])))) for row in agents}
    for row in agents:
        counts.setdefault(slot[row["id"]], [0, 0, 0])[0] += row["status"] != "delete"
    for row in _fetch(conninfo, "SELECT agent_id, agent_blueprint::text AS doc FROM agent_blueprints"):
        found = counts.setdefault(slot[row["agent_id"]], [0, 0, 0])
        found[1] += 1
        found[2] += len(str(row["doc"]).encode())
    return [
        {"org_id": org, "slot": n, "agents": a, "versions": v, "stored_bytes": b}
        for (org, n), (a, v, b) in sorted(counts.items())
    ]


def test_0016_counts_what_was_stored_before_it_the_old_systems_rows_included(database: str) -> None:
    _run_sql(database, LEGACY_SCHEMA)  # 0005 imports its three agents (one deleted) into two organizations
    before = MIGRATIONS[: MIGRATIONS.index(USAGE_MIGRATION)]
    upto = MIGRATIONS[: MIGRATIONS.index(USAGE_MIGRATION) + 1]
    migrate_up(database, before)
    _run_sql(database, AN_AGENT_WITH_TWO_VERSIONS + "UPDATE org_agents SET status = 'delete' WHERE name = 'two';")
    expected = _usage_by_hand(database)

    migrate_up(database, upto)

    assert _fetch(database, USAGE) == expected
    totals = "SELECT org_id::text, sum(agents) AS a, sum(versions) AS v FROM agent_org_usage GROUP BY 1 ORDER BY 1"
    assert [(row["org_id"], row["a"], row["v"]) for row in _fetch(database, totals)] == [
        ("00000000-0000-0000-0000-00000000000a", 1, 3),  # 'one' (two versions); 'two' is deleted, its version kept
        ("2b0d3c7a-1111-4e2b-8f00-5a6b7c8d9e0f", 0, 1),  # the old system's deleted agent
        ("7f1c2f4e-8a55-4c39-9a57-0d6f0f2c9d11", 2, 2),  # Helpdesk and Old bot
    ]
    assert migrate_down(database, upto) == USAGE_MIGRATION
    assert "agent_org_usage" not in _tables(database)
    migrate_up(database, upto)  # undone and redone: counted again, the same
    assert _fetch(database, USAGE) == expected


SIZES_MIGRATION = next(m for m in MIGRATIONS if m.name == "0017_add_blueprint_bytes")
SIZES: Final = (
    "SELECT version, blueprint_bytes, octet_length(agent_blueprint::text) AS text_bytes FROM agent_blueprints"
)


def test_0017_gives_every_version_its_documents_size_the_old_systems_rows_and_later_ones_included(
    database: str,
) -> None:
    _run_sql(database, LEGACY_SCHEMA)
    upto = MIGRATIONS[: MIGRATIONS.index(SIZES_MIGRATION) + 1]
    migrate_up(database, upto[:-1])
    _run_sql(database, AN_AGENT_WITH_TWO_VERSIONS)
    stored = len(_fetch(database, "SELECT id FROM agent_blueprints"))

    migrate_up(database, upto)
    _run_sql(database, """
        INSERT INTO agent_blueprints (id, agent_id, version, agent_blueprint, created_by, created_at)
        SELECT gen_random_uuid(), agent_id, 3, '{"later": "é"}', 'ana', now() FROM agent_blueprints WHERE version = 2
    """)  # fmt: skip

    rows = _fetch(database, SIZES)
    assert len(rows) == stored + 1 > 4  # the old system's rows, those of 0016's test, and the later one
    assert all(row["blueprint_bytes"] == row["text_bytes"] and row["text_bytes"] != 0 for row in rows)
    assert {row["blueprint_bytes"] for row in rows if row["version"] == 3} == {len('{"later": "é"}'.encode())}
    assert migrate_down(database, upto) == SIZES_MIGRATION
    columns = "SELECT column_name FROM information_schema.columns WHERE table_name = 'agent_blueprints'"
    assert "blueprint_bytes" not in {row["column_name"] for row in _fetch(database, columns)}
