"""The old system's blueprint shapes through the HTTP API, on every adapter (docs/blueprint-shapes.md): each saves as
written, reads back verbatim and compiles to its new-shape equivalent's prompt; an old agent row (an imported agent's
version 1) compiles once what it never had is added, and on PostgreSQL a row imported by the migrations goes live."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient
from psycopg.types.json import Jsonb

from adapters.postgres.migrations import load_migrations, migrate_up
from application.deps import Deps
from domain.compiler import render_prompt
from domain.document import read_blueprint
from domain.roles import Role
from entrypoints import bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.doubles import FixedClock, SequentialIds
from tests.e2e.conftest import Client, assert_problem, caller, fields_of, team
from tests.legacy import ONE_ORGANIZATION

pytestmark = pytest.mark.anyio

IDENTITY: Final = {"name": "Helpdesk", "role": "Support agent", "primary_purpose": "Answer questions about orders"}
PURPOSE: Final = "Answer questions about orders and returns"


class Shape(msgspec.Struct, frozen=True):
    """One old shape: the document as the old system wrote it, its new-shape equivalent, the warnings it compiles
    with (their fields)."""

    doc: dict[str, Any]
    equivalent: dict[str, Any]
    warnings: list[str]


SHAPES: Final = {
    "plain-string capabilities": Shape(
        {"identity": IDENTITY, "capabilities": ["Track orders", {"task": "Explain returns"}]},
        {"identity": IDENTITY, "capabilities": [{"task": "Track orders"}, {"task": "Explain returns"}]},
        [],
    ),
    "plain-string tools": Shape(
        {"identity": IDENTITY, "tools": ["order_lookup", {"name": "refund", "purpose": "Refund an order"}]},
        {"identity": IDENTITY, "tools": [{"name": "order_lookup"}, {"name": "refund", "purpose": "Refund an order"}]},
        ["tools[0].purpose"],  # a string cannot say it: a warning, where the object form is refused
    ),
    "plain-string knowledge sources": Shape(
        {"identity": IDENTITY, "knowledge_sources": ["Returns policy"]},
        {"identity": IDENTITY, "knowledge_sources": [{"source": "Returns policy"}]},
        [],
    ),
    "expected_response": Shape(
        {"identity": IDENTITY, "test_scenarios": [{"question": "Where is it?", "expected_response": "Order number?"}]},
        {"identity": IDENTITY, "test_scenarios": [{"question": "Where is it?", "expected": "Order number?"}]},
        [],
    ),
    "extra identity and monitoring fields": Shape(
        {
            "identity": IDENTITY | {"language": "vietnamese", "introduction": "Hi, I'm Helpdesk!"},
            "monitoring": {"reporting": "weekly", "metrics_tracked": ["resolved"], "fallback_response": "Sorry."},
        },
        {"identity": IDENTITY, "monitoring": {"reporting": "weekly"}},
        ["identity.introduction", "identity.language", "monitoring.fallback_response", "monitoring.metrics_tracked"],
    ),
}

# An old agent row as migration 0005 keeps it in an imported agent's version 1 (the agent is named after the row).
ROW: Final[dict[str, Any]] = {
    "system_prompt": {"role": "customer_support", "tone": "friendly", "language": "Vietnamese"},
    "tools_list": ["order_lookup"],
    "knowledge_list": ["returns-policy.pdf"],
}


async def create(client: Client, headers: dict[str, str], name: str, doc: dict[str, Any]) -> tuple[str, str]:
    made = await client.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": doc}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["agent"]["id"], made.json()["blueprint"]["id"]


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
async def test_an_old_shape_saves_verbatim_and_compiles_to_its_new_shape_prompt(
    client: Client, deps: Deps, shape: Shape
) -> None:
    acme = await team(deps, "acme")
    member, owner = acme.member.headers, acme.owner.headers
    agent, v1 = await create(client, member, "Helpdesk", shape.doc)
    added = await client.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shape.doc}, headers=member)
    assert added.status_code == 201, added.text

    for version in (v1, added.json()["id"]):
        stored = await client.get(f"/org-agents/{agent}/blueprints/{version}", headers=member)
        assert stored.json()["agent_blueprint"] == shape.doc
    compiled = await client.post(f"/org-agents/{agent}/blueprints/{v1}/compile?activate=true", headers=owner)

    assert compiled.status_code == 200, compiled.text
    assert compiled.json()["compiled_system_prompt"] == render_prompt(read_blueprint(shape.equivalent))
    assert sorted(w["field"] for w in compiled.json()["warnings"]) == sorted(shape.warnings)
    live = await client.get(f"/org-agents/{agent}/prompt", headers=member)
    assert live.json()["compiled_system_prompt"] == compiled.json()["compiled_system_prompt"]
    again = await client.get(f"/org-agents/{agent}/blueprints/{v1}", headers=member)
    assert again.json()["agent_blueprint"] == shape.doc  # compiling read it; the stored document is as sent


async def test_an_item_that_is_neither_an_object_nor_a_string_is_refused_on_save(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    doc = {"identity": IDENTITY, "tools": ["order_lookup", 7], "test_scenarios": [{"expected_response": False}]}

    body = {"name": "X", "agent_blueprint": doc}
    refused = await client.post("/org-agents/with-blueprint", json=body, headers=acme.member.headers)

    assert fields_of(assert_problem(refused, 422)) == {"tools[1]", "test_scenarios[0].expected_response"}


async def test_an_old_agent_row_goes_live_once_what_it_never_had_is_added(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, v1 = await create(client, acme.member.headers, "Helpdesk", ROW)

    await go_live_from_the_old_row(client, acme.owner.headers, agent, v1)


async def test_the_diff_of_old_row_drafts_shows_the_prompts_they_would_compile_to(client: Client, deps: Deps) -> None:
    acme = await team(deps, "acme")
    complete = ROW | {"system_prompt": ROW["system_prompt"] | {"purpose": PURPOSE}}  # nothing missing
    agent, _ = await create(client, acme.member.headers, "Helpdesk", complete)
    calmer = complete | {"system_prompt": complete["system_prompt"] | {"tone": "calm"}}
    v2 = await client.post(
        f"/org-agents/{agent}/blueprints", json={"agent_blueprint": calmer}, headers=acme.member.headers
    )

    diff = await client.get(f"/org-agents/{agent}/blueprints/{v2.json()['id']}/diff", headers=acme.member.headers)

    assert diff.status_code == 200, diff.text
    prompt_diff = diff.json()["prompt_diff"]  # drafts, read as compiling them reads them: with the agent's name
    assert prompt_diff is not None
    assert "\n-Your personality: friendly.\n+Your personality: calm.\n" in prompt_diff
    assert "\n You are Helpdesk.\n" in prompt_diff


async def go_live_from_the_old_row(client: Client, owner: dict[str, str], agent: str, v1: str) -> None:
    """Version 1 fails only on identity.primary_purpose; version 2 adds it and goes live, the row's role, tone,
    tools, knowledge and language in its prompt, and the agent's name as the identity's."""
    base = f"/org-agents/{agent}"
    first = await client.post(f"{base}/blueprints/{v1}/compile", headers=owner)
    problem = assert_problem(first, 422)
    assert [(e["field"], e["message"]) for e in problem["errors"]] == [
        ("identity.primary_purpose", "required, non-blank")
    ]
    status = await client.get(f"{base}/blueprints/{v1}/compilation-status", headers=owner)
    assert status.json()["status"] == "failed"
    v1_doc = (await client.get(f"{base}/blueprints/{v1}", headers=owner)).json()["agent_blueprint"]
    name = (await client.get(base, headers=owner)).json()["agent"]["name"]

    v2_doc = v1_doc | {"identity": {"primary_purpose": PURPOSE}}
    v2 = await client.post(f"{base}/blueprints", json={"agent_blueprint": v2_doc}, headers=owner)
    assert v2.status_code == 201, v2.text
    compiled = await client.post(f"{base}/blueprints/{v2.json()['id']}/compile?activate=true", headers=owner)

    assert compiled.status_code == 200, compiled.text
    prompt = compiled.json()["compiled_system_prompt"]
    assert prompt.startswith(
        f"You are {name}.\nYour role: {v1_doc['system_prompt']['role']}.\nYour primary purpose: {PURPOSE}.\n"
    )
    for said in (
        "Your personality: friendly.",
        "- order_lookup\n",
        "- returns-policy.pdf\n",
        "- Language: Vietnamese.",
    ):
        assert said in prompt
    assert [w["field"] for w in compiled.json()["warnings"]] == ["tools_list[0]"]
    live = await client.get(f"{base}/prompt", headers=owner)
    assert (live.status_code, live.json()["compiled_system_prompt"]) == (200, prompt)


# -- an agent imported by the migrations, on PostgreSQL ---------------------------------------------------------


OLD_ROW: Final = """
    INSERT INTO org_agents (id, agent_id, org_id, name, description, system_prompt, tools_list, knowledge_list,
                            created_by, created_at, updated_at)
    VALUES ('3b9c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e', 7, '5d1f6c2a-0b7e-4c1e-9d3a-2f4b6c8d0e1f', 'Helpdesk',
            'answers tickets', %s, %s, %s, 'user_Qm9vdGVkRnJvbVRoZU9sZA',
            '2025-03-04 05:06:07.123456+00', '2025-03-05 05:06:07.654321+00')
"""
OLD_AGENT: Final = uuid.UUID("3b9c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")


@pytest.fixture
async def old_system_client(database: str, tmp_path: Path) -> AsyncIterator[tuple[Client, Deps]]:
    """The service on a database of the old system, migrated as `org-agents migrate` migrates it."""
    with psycopg.connect(database) as conn:
        conn.execute(ONE_ORGANIZATION.encode())
        conn.execute(
            OLD_ROW.encode(), [Jsonb(ROW[column]) for column in ("system_prompt", "tools_list", "knowledge_list")]
        )
    migrate_up(database, load_migrations())
    settings = Settings(database_url=database, data_dir=tmp_path)
    async with bootstrap.postgres_deps(
        settings, database, clock=FixedClock(), ids=SequentialIds(), follow_changes=False
    ) as deps:
        app = create_app(Settings(database_url=None, data_dir=tmp_path), deps)
        async with AsyncTestClient(app) as client:
            yield client, deps


async def test_an_agent_imported_from_the_old_database_goes_live_from_its_version_1(
    old_system_client: tuple[Client, Deps], database: str
) -> None:
    client, deps = old_system_client
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT o.name FROM org_agents a JOIN agent_organizations o ON o.id = a.org_id WHERE a.id = %s",
            [OLD_AGENT],
        ).fetchone()
    assert row is not None
    owner = (await caller(deps, str(row[0]), "ana", Role.OWNER)).headers
    versions = await client.get(f"/org-agents/{OLD_AGENT}/blueprints?include=document", headers=owner)
    assert versions.status_code == 200, versions.text
    [v1] = versions.json()["items"]
    assert v1["agent_blueprint"] == ROW  # the old row's other columns, verbatim

    await go_live_from_the_old_row(client, owner, str(OLD_AGENT), v1["id"])


async def test_the_dry_run_of_an_old_row_for_its_agent_reads_it_as_its_compile_does(client: Client, deps: Deps) -> None:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")
    complete = ROW | {"system_prompt": ROW["system_prompt"] | {"purpose": PURPOSE}}
    agent, v1 = await create(client, acme.member.headers, "Helpdesk", complete)
    preview = "/org-agents/blueprints/preview"

    alone = await client.post(preview, json={"agent_blueprint": complete}, headers=acme.member.headers)
    for_it = await client.post(
        preview, json={"agent_blueprint": complete, "agent_id": agent}, headers=acme.member.headers
    )
    foreign = await client.post(
        preview, json={"agent_blueprint": complete, "agent_id": agent}, headers=globex.owner.headers
    )

    assert "identity.name" in {e["field"] for e in alone.json()["errors"]}  # no agent: no name to read
    assert for_it.json()["compilation_status"] == "compiled", for_it.text
    compiled = await client.post(f"/org-agents/{agent}/blueprints/{v1}/compile", headers=acme.owner.headers)
    assert for_it.json()["compiled_system_prompt"] == compiled.json()["compiled_system_prompt"]
    assert assert_problem(foreign, 404)["code"] == "AgentNotFound"
