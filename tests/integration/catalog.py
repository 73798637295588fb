"""A comparable snapshot of everything the migrations create, read from PostgreSQL's catalog."""

from typing import Any

import psycopg

QUERIES = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, is_nullable,
               column_default, is_identity
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name <> 'agent_schema_migrations'
        ORDER BY table_name, column_name
    """,
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = current_schema() AND c.conrelid <> 0
          AND c.conrelid::regclass::text <> 'agent_schema_migrations'
        ORDER BY 1, 2
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename <> 'agent_schema_migrations'
        ORDER BY 1, 2
    """,
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() ORDER BY 1
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema()
        ORDER BY 1, 2
    """,
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname = current_schema()
        ORDER BY 1, 2
    """,
    "sequences": """
        SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() ORDER BY 1
    """,
}


def snapshot(conninfo: str, *, with_positions: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """The schema objects of the current schema (not their rows), minus the runner's own tracking table.

    Without positions, column order is ignored: undoing a migration that added columns and redoing it gives the
    same columns at new positions, which is the same schema for every query that names its columns.
    """
    with psycopg.connect(conninfo) as conn:
        shot = {name: [tuple(row) for row in conn.execute(query)] for name, query in QUERIES.items()}
    if not with_positions:
        shot["columns"] = [row[:2] + row[3:] for row in shot["columns"]]
    return shot


# What the service's tables hold, minus what differs between two equal runs (ids made by gen_random_uuid(), now()).
CONTENTS = {
    "agents": """
        SELECT id, agent_id, org_id, name, description, status, created_by, created_at, updated_at,
               current_blueprint_id
        FROM org_agents ORDER BY id
    """,
    "versions": """
        SELECT agent_id, version, agent_blueprint, created_by, created_at, conversation_id, message,
               compilation_status, compiled_system_prompt, compile_errors
        FROM agent_blueprints ORDER BY agent_id, version
    """,
    "organizations": "SELECT id, name FROM agent_organizations ORDER BY id",
    "events": """
        SELECT org_id, actor, action, target_id, agent_id, details FROM agent_audit_events
        ORDER BY target_id, action, details::text
    """,
    "next_agent_number": "SELECT last_value, is_called FROM org_agents_agent_id_seq",
}


def contents(conninfo: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the service's tables and where the agent numbers stand, comparable across databases."""
    with psycopg.connect(conninfo) as conn:
        return {name: [tuple(row) for row in conn.execute(query)] for name, query in CONTENTS.items()}
