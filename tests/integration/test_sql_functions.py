"""The seed's SQL functions, views and guards as the migrations define them, on a real PostgreSQL."""

import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

WRITERS = 32


def _connect(conninfo: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(conninfo, autocommit=True, row_factory=dict_row)


def _new_agent(conn: psycopg.Connection[dict[str, Any]], status: str = "active") -> uuid.UUID:
    org = uuid.uuid4()
    conn.execute("INSERT INTO agent_organizations (id, name) VALUES (%s, %s)", [org, f"org {org}"])
    row = conn.execute(
        "INSERT INTO org_agents (org_id, name, status, created_by) VALUES (%s, 'probe', %s, 'tester') RETURNING id",
        [org, status],
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def _new_version(conn: psycopg.Connection[dict[str, Any]], agent: uuid.UUID, doc: object = None) -> uuid.UUID:
    row = conn.execute(
        "SELECT create_blueprint_version(%s, %s, 'tester') AS id", [agent, Jsonb(doc or {"n": 1})]
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def test_concurrent_callers_of_create_blueprint_version_get_contiguous_unique_numbers(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        agent = _new_agent(conn)
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with _connect(migrated_database) as conn:
                start.wait(timeout=30)
                _new_version(conn, agent, {"writer": n})
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)

    assert failures == []
    with _connect(migrated_database) as conn:
        rows = conn.execute(
            "SELECT version, agent_blueprint FROM agent_blueprints WHERE agent_id = %s ORDER BY version", [agent]
        ).fetchall()
        latest = conn.execute("SELECT get_latest_blueprint_version(%s) AS v", [agent]).fetchone()
    assert [row["version"] for row in rows] == list(range(1, WRITERS + 1))
    assert sorted(row["agent_blueprint"]["writer"] for row in rows) == list(range(WRITERS))
    assert latest == {"v": WRITERS}


def test_a_deleted_agent_accepts_no_new_version(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        agent = _new_agent(conn, status="delete")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="deleted"):
            _new_version(conn, agent)


def test_a_version_document_cannot_be_changed(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        version = _new_version(conn, _new_agent(conn))
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="immutable"):
            conn.execute("UPDATE agent_blueprints SET agent_blueprint = '{}' WHERE id = %s", [version])


def test_a_compiled_version_is_final(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        version = _new_version(conn, _new_agent(conn))
        conn.execute("SELECT update_blueprint_compilation(%s, 'You are probe.', 'admin', 'test/1')", [version])
        row = conn.execute(
            "SELECT compilation_status, compiled_system_prompt, compiled_by, compiler_version, compiled_at "
            "FROM agent_blueprints WHERE id = %s",
            [version],
        ).fetchone()
        assert row is not None
        assert (row["compilation_status"], row["compiled_system_prompt"], row["compiled_by"]) == (
            "compiled",
            "You are probe.",
            "admin",
        )
        assert row["compiler_version"] == "test/1"
        assert row["compiled_at"] is not None

        again = conn.execute(
            "SELECT update_blueprint_compilation(%s, 'Another prompt', 'root', 'test/2') AS done", [version]
        ).fetchone()
        failed = conn.execute("SELECT mark_compilation_failed(%s, 'root') AS done", [version]).fetchone()
        assert (again, failed) == ({"done": False}, {"done": False})
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="final"):
            conn.execute("UPDATE agent_blueprints SET compiled_system_prompt = 'edited' WHERE id = %s", [version])
        after = conn.execute(
            "SELECT compilation_status, compiled_system_prompt, compiled_by, compiler_version, compiled_at "
            "FROM agent_blueprints WHERE id = %s",
            [version],
        ).fetchone()
        assert after == row


def test_statistics_count_the_versions_of_an_organizations_live_agents(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        agent = _new_agent(conn)
        org = conn.execute("SELECT org_id FROM org_agents WHERE id = %s", [agent]).fetchone()
        assert org is not None
        compiled, failed, _draft = (_new_version(conn, agent) for _ in range(3))
        conn.execute("SELECT update_blueprint_compilation(%s, 'p', 'admin')", [compiled])
        conn.execute(
            "SELECT mark_compilation_failed(%s, 'admin', %s)", [failed, Jsonb([{"field": "identity", "message": "x"}])]
        )
        deleted = conn.execute(
            "INSERT INTO org_agents (org_id, name, created_by) VALUES (%s, 'gone', 't') RETURNING id", [org["org_id"]]
        ).fetchone()
        assert deleted is not None
        _new_version(conn, deleted["id"])
        conn.execute("UPDATE org_agents SET status = 'delete' WHERE id = %s", [deleted["id"]])

        stats = conn.execute("SELECT * FROM get_org_compilation_stats(%s)", [org["org_id"]]).fetchone()
        empty = conn.execute("SELECT * FROM get_org_compilation_stats(%s)", [uuid.uuid4()]).fetchone()

    assert stats is not None
    assert (stats["total_blueprints"], stats["compiled_blueprints"], stats["draft_blueprints"]) == (3, 1, 1)
    assert (stats["failed_blueprints"], float(stats["compilation_rate"])) == (1, 33.33)
    assert empty == {
        "total_blueprints": 0,
        "compiled_blueprints": 0,
        "draft_blueprints": 0,
        "failed_blueprints": 0,
        "compilation_rate": None,
    }


def test_an_agent_can_only_point_at_one_of_its_own_versions(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        mine, other = _new_agent(conn), _new_agent(conn)
        foreign_version = _new_version(conn, other)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE org_agents SET current_blueprint_id = %s WHERE id = %s", [foreign_version, mine])


def test_the_views_show_active_agents_and_their_compiled_versions(migrated_database: str) -> None:
    with _connect(migrated_database) as conn:
        agent = _new_agent(conn)
        version = _new_version(conn, agent, {"identity": {"name": "probe"}})
        conn.execute("SELECT update_blueprint_compilation(%s, 'You are probe.', 'admin')", [version])
        conn.execute("UPDATE org_agents SET current_blueprint_id = %s WHERE id = %s", [version, agent])
        _new_version(conn, agent)  # a newer draft does not change what is live

        active = conn.execute(
            "SELECT blueprint_version, agent_blueprint FROM active_agents_with_blueprints WHERE id = %s", [agent]
        ).fetchall()
        compiled = conn.execute("SELECT version FROM compiled_agent_blueprints WHERE agent_id = %s", [agent]).fetchall()
        live = conn.execute("SELECT * FROM agents_with_compiled_blueprints WHERE id = %s", [agent]).fetchall()

    assert active == [{"blueprint_version": 1, "agent_blueprint": {"identity": {"name": "probe"}}}]
    assert compiled == [{"version": 1}]
    assert len(live) == 1
    assert live[0]["compiled_system_prompt"] == "You are probe."
