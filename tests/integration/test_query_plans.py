"""The adapter's hot queries use indexes, not scans, once the tables are large (EXPLAIN on a real PostgreSQL)."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg.rows import dict_row

from adapters.postgres.agents import SEARCH_AGENTS, SELECT_AGENTS_AFTER, SELECT_FIRST_AGENTS, like_pattern
from adapters.postgres.audit import (
    EARLIEST,
    HIGHEST_ID,
    LATEST,
    SELECT_EVENTS,
    SELECT_EVENTS_OF_ACTION,
    SELECT_EVENTS_OF_ACTOR,
    SELECT_EVENTS_OF_AGENT,
)
from adapters.postgres.blueprints import (
    ABOVE_ANY_VERSION,
    SELECT_LABELLED_PROMPT,
    SELECT_LATEST_PROMPT,
    SELECT_LIVE_PROMPT,
    SELECT_VERSIONS,
    SELECT_VERSIONS_OF_CONVERSATION,
    SELECT_VERSIONS_WITH_STATUS,
)
from adapters.postgres.labels import ABOVE_ANY_SEQ, SELECT_HISTORY, SELECT_LABEL, SELECT_LABELS, SELECT_LAST_MOVES
from domain.audit import Action
from tests.conftest import create_database

# On one worker: its two seeded databases take seconds each, made once per module (pyproject.toml's --dist).
pytestmark = pytest.mark.xdist_group("query-plans")

AGENTS = 20_000
VERSIONS = 10_000

SEED: LiteralString = """
    INSERT INTO agent_organizations (id, name) VALUES (%(org)s, 'big'), (%(other)s, 'other');
    INSERT INTO org_agents (org_id, name, created_by, created_at)
    SELECT CASE WHEN n %% 2 = 0 THEN %(org)s ELSE %(other)s END::uuid, 'agent ' || n, 'seed',
           now() - n * interval '1 second'
    FROM generate_series(1, %(agents)s) AS n;
    INSERT INTO org_agents (id, org_id, name, created_by) VALUES (%(agent)s, %(org)s, 'deep', 'seed');
    INSERT INTO agent_blueprints (agent_id, version, agent_blueprint, created_by, conversation_id, compilation_status,
                                  compiled_system_prompt, compiled_at)
    SELECT %(agent)s, n, '{"identity": {"name": "x"}}', 'seed', 'conv ' || (n %% 50),
           CASE WHEN n %% 10 = 0 THEN 'compiled' ELSE 'draft' END,
           CASE WHEN n %% 10 = 0 THEN 'prompt ' || n END, CASE WHEN n %% 10 = 0 THEN now() END
    FROM generate_series(1, %(versions)s) AS n;
    UPDATE org_agents SET current_blueprint_id = (
        SELECT id FROM agent_blueprints WHERE agent_id = %(agent)s AND version = %(versions)s
    ) WHERE id = %(agent)s;
    INSERT INTO agent_blueprints (agent_id, version, agent_blueprint, created_by, compilation_status,
                                  compiled_system_prompt, compiled_at)
    SELECT id, 1, '{}', 'seed', 'compiled', 'prompt', now() FROM org_agents WHERE id <> %(agent)s;
    INSERT INTO agent_labels (agent_id, name, blueprint_id, moved_by)
    SELECT agent_id, label, id, 'seed' FROM agent_blueprints, unnest(ARRAY['canary', 'staging']) AS label
    WHERE agent_id <> %(agent)s OR version = 1000;
    INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, moved_by)
    SELECT agent_id, name, 1, blueprint_id, 'seed' FROM agent_labels WHERE agent_id <> %(agent)s;
    INSERT INTO agent_label_moves (agent_id, name, seq, blueprint_id, moved_by)
    SELECT %(agent)s, label, n, (SELECT id FROM agent_blueprints WHERE agent_id = %(agent)s AND version = 10), 'seed'
    FROM generate_series(1, %(versions)s) AS n, unnest(ARRAY['canary', 'staging']) AS label;
    ANALYZE org_agents;
    ANALYZE agent_blueprints;
    ANALYZE agent_labels;
    ANALYZE agent_label_moves;
"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def _plan(conn: psycopg.Connection[dict[str, Any]], query: LiteralString, params: dict[str, Any]) -> list[str]:
    row = conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()
    assert row is not None
    return [
        " ".join([n["Node Type"], *(f"on {n['Relation Name']}" for _ in [1] if "Relation Name" in n),
                  *(f"using {n['Index Name']}" for _ in [1] if "Index Name" in n)])
        for n in _nodes(row["QUERY PLAN"][0]["Plan"])
    ]  # fmt: skip


@pytest.fixture(scope="module")
def big(pg_admin: str) -> Iterator[tuple[psycopg.Connection[dict[str, Any]], dict[str, uuid.UUID]]]:
    from adapters.postgres.migrations import load_migrations, migrate_up

    name = f"oa_plans_{uuid.uuid4().hex[:8]}"
    create_database(pg_admin, name)
    conninfo = psycopg.conninfo.make_conninfo(pg_admin, dbname=name)
    migrate_up(conninfo, load_migrations())
    ids = {"org": uuid.uuid4(), "other": uuid.uuid4(), "agent": uuid.uuid4()}
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        for statement in SEED.split(";")[:-1]:
            conn.execute(statement, ids | {"agents": AGENTS, "versions": VERSIONS})
        yield conn, ids
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


CASES: dict[str, tuple[LiteralString, Callable[[dict[str, uuid.UUID]], dict[str, Any]]]] = {
    "live prompt": (SELECT_LIVE_PROMPT, lambda ids: {"org_id": ids["org"], "agent_id": ids["agent"]}),
    "versions, first page": (
        SELECT_VERSIONS,
        lambda ids: {"org_id": ids["org"], "agent_id": ids["agent"], "before": ABOVE_ANY_VERSION, "limit": 21},
    ),
    "versions, deep page": (
        SELECT_VERSIONS,
        lambda ids: {"org_id": ids["org"], "agent_id": ids["agent"], "before": 42, "limit": 21},
    ),
    "versions of a conversation": (
        SELECT_VERSIONS_OF_CONVERSATION,
        lambda ids: {
            "org_id": ids["org"],
            "agent_id": ids["agent"],
            "conversation_id": "conv 7",
            "before": ABOVE_ANY_VERSION,
            "limit": 21,
        },
    ),
    "compiled versions": (
        SELECT_VERSIONS_WITH_STATUS,
        lambda ids: {
            "org_id": ids["org"],
            "agent_id": ids["agent"],
            "status": "compiled",
            "before": ABOVE_ANY_VERSION,
            "limit": 21,
        },
    ),
    "prompt of a label": (
        SELECT_LABELLED_PROMPT,
        lambda ids: {"org_id": ids["org"], "agent_id": ids["agent"], "label": "staging"},
    ),
    "prompt of latest": (SELECT_LATEST_PROMPT, lambda ids: {"org_id": ids["org"], "agent_id": ids["agent"]}),
    "a label": (SELECT_LABEL, lambda ids: {"agent_id": ids["agent"], "name": "staging"}),
    "labels of an agent": (SELECT_LABELS, lambda ids: {"agent_id": ids["agent"]}),
    "last move of each label": (SELECT_LAST_MOVES, lambda ids: {"agent_id": ids["agent"]}),
    "label history, first page": (
        SELECT_HISTORY,
        lambda ids: {"agent_id": ids["agent"], "name": "staging", "before": ABOVE_ANY_SEQ, "limit": 21},
    ),
    "label history, deep page": (
        SELECT_HISTORY,
        lambda ids: {"agent_id": ids["agent"], "name": "staging", "before": 42, "limit": 21},
    ),
    "agents of an org, first page": (
        SELECT_FIRST_AGENTS,
        lambda ids: {"org_id": ids["org"], "statuses": ["active", "deactive"], "limit": 21},
    ),
    "agents of an org, later page": (
        SELECT_AGENTS_AFTER,
        lambda ids: {
            "org_id": ids["org"],
            "statuses": ["active", "deactive"],
            "limit": 21,
            "created_at": "2000-01-01T00:00:00Z",
            "after_id": uuid.UUID(int=0),
        },
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_the_query_uses_an_index_and_never_scans_a_whole_table(big: Any, case: str) -> None:
    conn, ids = big
    query, params = CASES[case]

    plan = _plan(conn, query, params(ids))

    print(f"{case}: {' > '.join(plan)}")  # shown with -s; quoted in the README
    assert not [node for node in plan if node.startswith("Seq Scan")], plan
    assert any("Index" in node for node in plan), plan


@pytest.mark.slow
@pytest.mark.parametrize("query", ["agent 1234", "zebra"])
def test_a_search_reads_the_names_trigram_index_not_every_agent_of_the_organization(big: Any, query: str) -> None:
    conn, ids = big

    plan = _plan(conn, SEARCH_AGENTS, {"org_id": ids["org"], "pattern": like_pattern(query), "limit": 21})

    print(f"search {query!r}: {' > '.join(plan)}")
    assert "Bitmap Index Scan using idx_org_agents_name_trgm" in plan, plan
    assert not [node for node in plan if node.startswith("Seq Scan")], plan


# -- the audit trail: however long, a page of any filter is one short range of one index ----------------------------

EVENTS = 250_000  # one a millisecond before NOW; with 1,000,000 the reads are the same and the seed takes a minute
AUDIT_SEED: LiteralString = """
    INSERT INTO agent_organizations (id, name) VALUES (%(org)s, 'busy'), (%(other)s, 'quiet');
    INSERT INTO agent_audit_events (org_id, actor, action, target_id, agent_id, occurred_at)
    SELECT CASE WHEN n %% 10 = 0 THEN %(other)s ELSE %(org)s END::uuid, 'user ' || n %% 50,
           (%(actions)s::text[])[1 + n %% %(kinds)s], gen_random_uuid(),
           CASE WHEN n %% 20 <> 1 THEN ('00000000-0000-4000-8000-' || lpad((n %% 1000)::text, 12, '0'))::uuid END,
           %(now)s - n * interval '1 millisecond'
    FROM generate_series(1, %(events)s) AS n;
    ANALYZE agent_audit_events;
"""
NOW = datetime(2026, 3, 10, tzinfo=UTC)
AGENT = uuid.UUID("00000000-0000-4000-8000-000000000007")
DEEP = {"before_at": NOW - timedelta(milliseconds=EVENTS // 2), "before_id": HIGHEST_ID}  # the trail's middle
SINCE = NOW - timedelta(milliseconds=EVENTS * 3 // 4)
FIRST = {"before_at": LATEST, "before_id": HIGHEST_ID, "since": EARLIEST}


def _audit(**params: Any) -> dict[str, Any]:
    return FIRST | {"agent_id": None, "action": None, "actor": None, "limit": 21} | params


AUDIT_CASES: dict[str, tuple[LiteralString, str, Callable[[dict[str, uuid.UUID]], dict[str, Any]]]] = {
    "trail of an org, first page": (SELECT_EVENTS, "org_id", lambda ids: _audit(org_id=ids["org"])),
    "trail of an org, deep page": (SELECT_EVENTS, "org_id", lambda ids: _audit(org_id=ids["org"], **DEEP)),
    "trail of an agent": (SELECT_EVENTS_OF_AGENT, "agent_id", lambda ids: _audit(org_id=ids["org"], agent_id=AGENT)),
    "trail of an agent, deep page": (
        SELECT_EVENTS_OF_AGENT, "agent_id", lambda ids: _audit(org_id=ids["org"], agent_id=AGENT, **DEEP),
    ),
    "trail of an agent of another org": (
        SELECT_EVENTS_OF_AGENT, "agent_id", lambda ids: _audit(org_id=ids["other"], agent_id=AGENT),
    ),
    "trail of an actor": (SELECT_EVENTS_OF_ACTOR, "actor", lambda ids: _audit(org_id=ids["org"], actor="user 7")),
    "trail of an actor, deep page": (
        SELECT_EVENTS_OF_ACTOR, "actor", lambda ids: _audit(org_id=ids["org"], actor="user 7", **DEEP),
    ),
    "trail of an action": (
        SELECT_EVENTS_OF_ACTION, "action", lambda ids: _audit(org_id=ids["org"], action="label.move"),
    ),
    "trail of an action in a time range": (
        SELECT_EVENTS_OF_ACTION, "action",
        lambda ids: _audit(org_id=ids["org"], action="label.move", since=SINCE, **DEEP),
    ),
    "trail of a time range": (
        SELECT_EVENTS, "org_id", lambda ids: _audit(org_id=ids["org"], since=SINCE, **DEEP),
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def trail(pg_admin: str) -> Iterator[tuple[psycopg.Connection[dict[str, Any]], dict[str, uuid.UUID]]]:
    from adapters.postgres.migrations import load_migrations, migrate_up

    name = f"oa_trail_{uuid.uuid4().hex[:8]}"
    create_database(pg_admin, name)
    conninfo = psycopg.conninfo.make_conninfo(pg_admin, dbname=name)
    migrate_up(conninfo, load_migrations())
    ids = {"org": uuid.uuid4(), "other": uuid.uuid4()}
    actions = [a for a in Action if not a.value.startswith("webhook.")]  # the agents' actions: label.move in every org
    params = ids | {"events": EVENTS, "actions": actions, "kinds": len(actions), "now": NOW}
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        for statement in AUDIT_SEED.split(";")[:-1]:
            conn.execute(statement, params)
        yield conn, ids
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.mark.slow
@pytest.mark.parametrize("case", AUDIT_CASES)
def test_an_audit_page_is_one_short_range_of_its_index_however_long_the_trail(trail: Any, case: str) -> None:
    conn, ids = trail
    query, index, params = AUDIT_CASES[case]
    row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params(ids)).fetchone()
    assert row is not None

    scans = [n for n in _nodes(row["QUERY PLAN"][0]["Plan"]) if n.get("Relation Name") == "agent_audit_events"]

    print(f"{case}: {' > '.join(n['Node Type'] + ' using ' + n.get('Index Name', '-') for n in scans)}")
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [("Index Scan", f"idx_agent_audit_events_{index}")]
    # The rows read are the page's (an agent of another organization has none there): nothing is read only to be
    # thrown away, so a page costs the same whatever the trail's length and however deep the page.
    assert scans[0]["Actual Rows"] == (0 if "another org" in case else 21)
    assert scans[0].get("Rows Removed by Filter", 0) == 0
