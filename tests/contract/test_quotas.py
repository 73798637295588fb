"""Quotas through the use cases: what each organization's usage counts (agents not deleted, versions, their documents'
bytes), exactly, on every adapter; what a write past a quota is told; what an import counts and refuses (PostgreSQL)."""

import asyncio
import dataclasses
import io
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import psycopg
import pytest

from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    ListAgents,
    SetStatus,
    UpdateAgent,
    create_agent,
    create_agent_with_blueprint,
    deactivate_agent,
    delete_agent,
    list_agents,
    update_agent,
)
from application.blueprints import AddVersion, ListVersions, add_version, list_versions
from application.deps import Deps
from application.ports import OrganizationArchive
from application.transfer import (
    ExportOrganization,
    ImportOrganization,
    ImportRefused,
    VersionRecord,
    export_organization,
    import_organization,
    read_archive,
)
from domain.agents import AgentStatus
from domain.errors import AgentDeleted, QuotaExceeded
from domain.quotas import Quotas, Usage, document_bytes
from entrypoints.bootstrap import organization_archive
from entrypoints.settings import Settings
from tests.contract.conftest import empty
from tests.contract.test_audit import IdSourceDown, failing_on
from tests.samples import shop_buddy, team

pytestmark = pytest.mark.anyio


async def usage_of(deps: Deps, org_id: UUID) -> Usage:
    async with deps.uow() as uow:
        return await uow.usage.of(org_id)


def limited(deps: Deps, **quotas: int) -> Deps:
    return dataclasses.replace(deps, quotas=Quotas(**quotas))


def small(n: int) -> dict[str, Any]:
    """A document of about `n` bytes of JSON: its size is what the test says, not the sample's."""
    return {"identity": {"name": "x" * n}}


# -- what is counted ---------------------------------------------------------------------------------------------


async def test_a_new_organization_uses_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")

    assert await usage_of(deps, acme.member.org_id) == Usage(agents=0, versions=0, stored_bytes=0)


async def test_creates_with_blueprint_and_new_versions_count_agents_versions_and_document_bytes_exactly(
    deps: Deps,
) -> None:
    acme = await team(deps, "acme")
    first, second, third = shop_buddy(), shop_buddy("Other"), {"identity": {"name": "ü" * 10}, "extra": [1, 2.5]}

    bare = await create_agent(deps, acme.member, CreateAgent(name="bare"))
    await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(name="made", agent_blueprint=first))
    await add_version(deps, acme.member, AddVersion(agent_id=bare.id, agent_blueprint=second))
    await add_version(deps, acme.member, AddVersion(agent_id=bare.id, agent_blueprint=third, message="a note"))

    expected_bytes = sum(len(msgspec.json.encode(doc)) for doc in (first, second, third))
    assert expected_bytes == sum(map(document_bytes, (first, second, third)))
    assert await usage_of(deps, acme.member.org_id) == Usage(agents=2, versions=3, stored_bytes=expected_bytes)


async def test_deleting_frees_the_agents_place_once_and_keeps_its_versions_counted(deps: Deps) -> None:
    acme = await team(deps, "acme")
    doc = small(100)
    made = await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(name="a", agent_blueprint=doc))
    other = await create_agent(deps, acme.member, CreateAgent(name="b"))
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=other.id))  # switched off still counts

    await delete_agent(deps, acme.admin, SetStatus(agent_id=made.agent.id))
    await delete_agent(deps, acme.admin, SetStatus(agent_id=made.agent.id))  # again: changes nothing

    assert await usage_of(deps, acme.member.org_id) == Usage(agents=1, versions=1, stored_bytes=document_bytes(doc))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=other.id, status=AgentStatus.DELETE))  # the PATCH way
    assert await usage_of(deps, acme.member.org_id) == Usage(agents=0, versions=1, stored_bytes=document_bytes(doc))
    with pytest.raises(AgentDeleted):  # no way back, so nothing to count back
        await update_agent(deps, acme.admin, UpdateAgent(agent_id=other.id, status=AgentStatus.ACTIVE))


async def test_usage_is_the_organizations_own(deps: Deps) -> None:
    acme, beta = await team(deps, "acme"), await team(deps, "beta")
    await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(name="a", agent_blueprint=small(5)))

    assert await usage_of(deps, beta.member.org_id) == Usage()
    await create_agent(deps, beta.member, CreateAgent(name="b"))
    assert (await usage_of(deps, acme.member.org_id)).agents == (await usage_of(deps, beta.member.org_id)).agents == 1


# ids: the agent's, its version's, then the audit events of each (the fault, after the counts were added)
@pytest.mark.parametrize("fail_on", [3, 4])
async def test_a_create_that_fails_after_counting_counts_nothing(deps: Deps, fail_on: int) -> None:
    acme = await team(deps, "acme")
    broken = failing_on(deps, fail_on)
    cmd = CreateAgentWithBlueprint(name="a", agent_blueprint=small(50))

    with pytest.raises(IdSourceDown):
        await create_agent_with_blueprint(broken, acme.member, cmd)
    with pytest.raises(IdSourceDown):
        await create_agent(failing_on(deps, 2), acme.member, CreateAgent(name="b"))

    assert await usage_of(deps, acme.member.org_id) == Usage()


async def test_a_version_or_delete_that_fails_after_counting_counts_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="a"))
    before = await usage_of(deps, acme.member.org_id)

    with pytest.raises(IdSourceDown):  # the version's id, then its audit event's: the fault
        await add_version(failing_on(deps, 2), acme.member, AddVersion(agent_id=agent.id, agent_blueprint=small(9)))
    with pytest.raises(IdSourceDown):  # the delete's audit event
        await delete_agent(failing_on(deps, 1), acme.admin, SetStatus(agent_id=agent.id))

    assert await usage_of(deps, acme.member.org_id) == before == Usage(agents=1)


async def test_counts_added_in_a_unit_of_work_left_without_commit_are_dropped(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="a"))

    async with deps.uow() as uow:
        await uow.usage.add(acme.member.org_id, agent.id, agents=5, versions=7, stored_bytes=11)
        assert await uow.usage.of(acme.member.org_id) == Usage(agents=6, versions=7, stored_bytes=11)  # its own

    assert await usage_of(deps, acme.member.org_id) == Usage(agents=1)


async def test_concurrent_writers_of_many_agents_lose_no_count(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agents = [await create_agent(deps, acme.member, CreateAgent(name=f"a{n}")) for n in range(32)]
    doc = small(20)

    async def write(agent_id: UUID) -> None:
        for _ in range(3):
            await add_version(deps, acme.member, AddVersion(agent_id=agent_id, agent_blueprint=doc))

    await asyncio.gather(*(write(agent.id) for agent in agents))

    assert await usage_of(deps, acme.member.org_id) == Usage(
        agents=32, versions=96, stored_bytes=96 * document_bytes(doc)
    )


# -- what a write past a quota is told -------------------------------------------------------------------------


async def test_a_member_past_the_quota_of_agents_is_refused_and_nothing_is_written(deps: Deps) -> None:
    acme = await team(deps, "acme")
    capped = limited(deps, agents=2)
    for name in ("a", "b"):
        await create_agent(capped, acme.member, CreateAgent(name=name))

    with pytest.raises(QuotaExceeded) as refused:
        await create_agent(capped, acme.member, CreateAgent(name="c"))
    with pytest.raises(QuotaExceeded):
        await create_agent_with_blueprint(capped, acme.member, CreateAgentWithBlueprint(name="d", agent_blueprint={}))

    assert refused.value.extra() == {"quota": "agents", "limit": 2, "used": 2}
    assert str(refused.value) == "the organization has 2 agents, its quota"
    listed = await list_agents(deps, acme.member, ListAgents())
    assert sorted(a.name for a in listed.items) == ["a", "b"]
    assert await usage_of(deps, acme.member.org_id) == Usage(agents=2)


async def test_a_deleted_agent_makes_room_for_a_new_one(deps: Deps) -> None:
    acme = await team(deps, "acme")
    capped = limited(deps, agents=1)
    first = await create_agent(capped, acme.member, CreateAgent(name="a"))
    with pytest.raises(QuotaExceeded):
        await create_agent(capped, acme.member, CreateAgent(name="b"))

    await delete_agent(capped, acme.admin, SetStatus(agent_id=first.id))

    assert (await create_agent(capped, acme.member, CreateAgent(name="b"))).name == "b"


async def test_versions_past_their_quota_are_refused_on_every_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    capped = limited(deps, versions=2)
    made = await create_agent_with_blueprint(
        capped, acme.member, CreateAgentWithBlueprint(name="a", agent_blueprint={})
    )
    other = await create_agent(capped, acme.member, CreateAgent(name="b"))
    await add_version(capped, acme.member, AddVersion(agent_id=other.id, agent_blueprint={}))

    for agent_id in (made.agent.id, other.id):
        with pytest.raises(QuotaExceeded) as refused:
            await add_version(capped, acme.member, AddVersion(agent_id=agent_id, agent_blueprint={}))
        assert refused.value.extra() == {"quota": "versions", "limit": 2, "used": 2}
    with pytest.raises(QuotaExceeded):  # an agent with its version 1 needs room for both
        await create_agent_with_blueprint(capped, acme.member, CreateAgentWithBlueprint(name="c", agent_blueprint={}))

    page = await list_versions(deps, acme.member, ListVersions(agent_id=other.id))
    assert [v.version for v in page.items] == [1]
    assert await usage_of(deps, acme.member.org_id) == Usage(agents=2, versions=2, stored_bytes=4)


async def test_a_document_that_would_pass_the_quota_of_bytes_is_refused_and_a_smaller_one_fits(deps: Deps) -> None:
    acme = await team(deps, "acme")
    doc = small(100)
    size = document_bytes(doc)
    capped = limited(deps, stored_bytes=2 * size + 10)
    made = await create_agent_with_blueprint(
        capped, acme.member, CreateAgentWithBlueprint(name="a", agent_blueprint=doc)
    )
    await add_version(capped, acme.member, AddVersion(agent_id=made.agent.id, agent_blueprint=doc))

    with pytest.raises(QuotaExceeded) as refused:
        await add_version(capped, acme.member, AddVersion(agent_id=made.agent.id, agent_blueprint=doc))

    assert refused.value.extra() == {"quota": "stored_bytes", "limit": 2 * size + 10, "used": 2 * size}
    assert f"{size} more would pass its quota" in str(refused.value)
    assert (await add_version(capped, acme.member, AddVersion(agent_id=made.agent.id, agent_blueprint={}))).version == 3
    assert await usage_of(deps, acme.member.org_id) == Usage(agents=1, versions=3, stored_bytes=2 * size + 2)


async def test_a_retry_with_its_idempotency_key_is_answered_once_the_quota_is_reached(deps: Deps) -> None:
    acme = await team(deps, "acme")
    capped = limited(deps, agents=1, versions=2)
    agent = await create_agent(capped, acme.member, CreateAgent(name="a", idempotency_key="k-agent"))
    bare = CreateAgentWithBlueprint(name="b", agent_blueprint={}, idempotency_key="k-both")
    with pytest.raises(QuotaExceeded):  # no answer was kept for it: a retry is refused again, not answered
        await create_agent_with_blueprint(capped, acme.member, bare)
    add = AddVersion(agent_id=agent.id, agent_blueprint=small(3), idempotency_key="k-version")
    version = await add_version(capped, acme.member, add)
    await add_version(capped, acme.member, AddVersion(agent_id=agent.id, agent_blueprint={}))

    assert await create_agent(capped, acme.member, CreateAgent(name="a", idempotency_key="k-agent")) == agent
    assert await add_version(capped, acme.member, add) == version
    with pytest.raises(QuotaExceeded):
        await create_agent_with_blueprint(capped, acme.member, bare)
    expected = Usage(agents=1, versions=2, stored_bytes=document_bytes(small(3)) + 2)
    assert await usage_of(deps, acme.member.org_id) == expected


# -- imports (PostgreSQL: the CLI's export and import run only there) ------------------------------------------


def _archive(conninfo: str) -> OrganizationArchive:
    return organization_archive(Settings(database_url=conninfo, data_dir=Path("unused")), conninfo)


async def _export(conninfo: str, org: str) -> bytes:
    archive = _archive(conninfo)
    out = io.BytesIO()
    await export_organization(archive, ExportOrganization(org_name=org), out)
    return out.getvalue()


async def _import(conninfo: str, org: str, data: bytes, quotas: Quotas) -> None:
    archive = _archive(conninfo)
    await import_organization(archive, ImportOrganization(org_name=org), io.BytesIO(data), quotas=quotas)


async def _seeded(deps: Deps) -> UUID:
    """Two agents not deleted (one with two versions, one with none) and a deleted one with a version."""
    acme = await team(deps, "acme")
    made = await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(
        name="a", agent_blueprint=shop_buddy()))  # fmt: skip
    await add_version(deps, acme.member, AddVersion(agent_id=made.agent.id, agent_blueprint=small(30)))
    gone = await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(
        name="gone", agent_blueprint=small(7)))  # fmt: skip
    await delete_agent(deps, acme.admin, SetStatus(agent_id=gone.agent.id))
    await create_agent(deps, acme.member, CreateAgent(name="bare"))
    return acme.member.org_id


async def test_an_import_counts_what_it_loaded(postgres_deps: Deps, shared_migrated_database: str) -> None:
    org_id = await _seeded(postgres_deps)
    data = await _export(shared_migrated_database, "acme")
    _, records = read_archive(io.BytesIO(data))
    texts = [bytes(r.agent_blueprint) for r in records if isinstance(r, VersionRecord)]
    empty(shared_migrated_database)

    await _import(shared_migrated_database, "acme", data, Quotas())

    # A document counts as the file holds it: PostgreSQL's text of the jsonb, as migration 0016 counts.
    assert await usage_of(postgres_deps, org_id) == Usage(agents=2, versions=3, stored_bytes=sum(map(len, texts)))
    acme = await team(postgres_deps, "acme")
    await create_agent(postgres_deps, acme.member, CreateAgent(name="after"))
    assert (await usage_of(postgres_deps, org_id)).agents == 3


@pytest.mark.parametrize(("quota", "limit"), [("agents", 1), ("versions", 2), ("stored_bytes", 100)])
async def test_an_import_past_a_quota_is_refused_whole(
    postgres_deps: Deps, shared_migrated_database: str, quota: str, limit: int
) -> None:
    org_id = await _seeded(postgres_deps)
    data = await _export(shared_migrated_database, "acme")
    empty(shared_migrated_database)

    with pytest.raises(ImportRefused, match=f"than organization 'acme' may store \\(its quota is {limit}\\)"):
        await _import(shared_migrated_database, "acme", data, Quotas(**{quota: limit}))

    assert await usage_of(postgres_deps, org_id) == Usage()
    with psycopg.connect(shared_migrated_database) as conn:
        assert conn.execute("SELECT count(*) FROM org_agents").fetchone() == (0,)
    await _import(shared_migrated_database, "acme", data, Quotas(**{quota: limit * 1000}))  # room: it goes in
    assert (await usage_of(postgres_deps, org_id)).versions == 3


async def test_writers_of_different_agents_count_in_different_rows(
    postgres_deps: Deps, shared_migrated_database: str
) -> None:
    acme = await team(postgres_deps, "acme")
    for n in range(32):
        await create_agent(postgres_deps, acme.member, CreateAgent(name=f"a{n}"))

    with psycopg.connect(shared_migrated_database) as conn:
        rows = conn.execute("SELECT count(*), sum(agents) FROM agent_org_usage").fetchone()
    assert rows is not None
    assert rows[1] == 32
    assert rows[0] >= 20  # 32 agents over 64 slots: a few share one, most have their own
