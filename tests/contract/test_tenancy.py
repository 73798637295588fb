"""Anything in another organization does not exist for the caller: every use case, every list, search and count."""

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import msgspec
import pytest

from application.agents import (
    CreateAgent,
    GetAgent,
    ListAgents,
    SearchAgents,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
    search_agents,
    update_agent,
)
from application.audit import ListAgentAuditEvents, list_agent_audit_events
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetCompilationStats,
    GetLivePrompt,
    GetVersion,
    ListCompiledVersions,
    ListVersions,
    activate_version,
    add_version,
    compile_version,
    get_compilation_stats,
    get_live_prompt,
    get_version,
    list_compiled_versions,
    list_versions,
)
from application.deps import Deps
from domain.agents import Agent, AgentStatus
from domain.blueprints import BlueprintVersion
from domain.errors import AgentNotFound, NotFound, RoleTooLow
from domain.roles import Principal
from tests.contract.test_audit import agents_trail, whole_trail
from tests.samples import Team, shop_buddy, team

pytestmark = pytest.mark.anyio


class Acme(msgspec.Struct, frozen=True, kw_only=True):
    """Organization A: an agent with a live version, a draft, and a deleted agent with a compiled version."""

    team: Team
    agent: Agent
    live: BlueprintVersion
    drafted: BlueprintVersion
    deleted: Agent
    deleted_version: BlueprintVersion


async def acme_with_agents(deps: Deps) -> Acme:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    live = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    compiled = await compile_version(
        deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=live.id, activate=True)
    )
    drafted = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy("v2")))
    deleted = await create_agent(deps, acme.member, CreateAgent(name="Old Buddy"))
    deleted_version = await add_version(deps, acme.member, AddVersion(agent_id=deleted.id, agent_blueprint={}))
    deleted = await delete_agent(deps, acme.owner, SetStatus(agent_id=deleted.id))
    return Acme(
        team=acme,
        agent=compiled.agent,
        live=compiled.blueprint,
        drafted=drafted,
        deleted=deleted,
        deleted_version=deleted_version,
    )


Attempt = Callable[[Deps, Principal, Acme], Awaitable[object]]

# Every use case that takes an id, aimed at organization A's agent (or its deleted one) by someone else.
ATTEMPTS: dict[str, Attempt] = {
    "get agent": lambda d, who, a: get_agent(d, who, GetAgent(agent_id=a.agent.id)),
    "get deleted agent": lambda d, who, a: get_agent(d, who, GetAgent(agent_id=a.deleted.id)),
    "update agent": lambda d, who, a: update_agent(d, who, UpdateAgent(agent_id=a.agent.id, name="mine")),
    "activate agent": lambda d, who, a: activate_agent(d, who, SetStatus(agent_id=a.agent.id)),
    "deactivate agent": lambda d, who, a: deactivate_agent(d, who, SetStatus(agent_id=a.agent.id)),
    "delete agent": lambda d, who, a: delete_agent(d, who, SetStatus(agent_id=a.agent.id)),
    "delete deleted agent": lambda d, who, a: delete_agent(d, who, SetStatus(agent_id=a.deleted.id)),
    "add version": lambda d, who, a: add_version(d, who, AddVersion(agent_id=a.agent.id, agent_blueprint={})),
    "list versions": lambda d, who, a: list_versions(d, who, ListVersions(agent_id=a.agent.id)),
    "list deleted agent versions": lambda d, who, a: list_versions(d, who, ListVersions(agent_id=a.deleted.id)),
    "list compiled versions": lambda d, who, a: list_compiled_versions(
        d, who, ListCompiledVersions(agent_id=a.agent.id)
    ),
    "get version": lambda d, who, a: get_version(d, who, GetVersion(agent_id=a.agent.id, version_id=a.live.id)),
    "get compilation status": lambda d, who, a: get_version(
        d, who, GetVersion(agent_id=a.agent.id, version_id=a.drafted.id)
    ),
    "compile": lambda d, who, a: compile_version(d, who, CompileVersion(agent_id=a.agent.id, version_id=a.drafted.id)),
    "compile and activate": lambda d, who, a: compile_version(
        d, who, CompileVersion(agent_id=a.agent.id, version_id=a.drafted.id, activate=True)
    ),
    "recompile": lambda d, who, a: compile_version(d, who, CompileVersion(agent_id=a.agent.id, version_id=a.live.id)),
    "activate version": lambda d, who, a: activate_version(
        d, who, ActivateVersion(agent_id=a.agent.id, version_id=a.live.id)
    ),
    "live prompt": lambda d, who, a: get_live_prompt(d, who, GetLivePrompt(agent_id=a.agent.id)),
    "agent's audit events": lambda d, who, a: list_agent_audit_events(
        d, who, ListAgentAuditEvents(agent_id=a.agent.id)
    ),
    "deleted agent's audit events": lambda d, who, a: list_agent_audit_events(
        d, who, ListAgentAuditEvents(agent_id=a.deleted.id)
    ),
}

MANAGING = {
    "update agent",
    "activate agent",
    "deactivate agent",
    "delete agent",
    "delete deleted agent",
    "compile",
    "compile and activate",
    "recompile",
    "activate version",
}


async def everything_of(deps: Deps, acme: Acme) -> list[Any]:
    """What organization A itself sees of its agents, versions and trail."""
    who = acme.team.owner
    return [
        await get_agent(deps, who, GetAgent(agent_id=acme.agent.id)),
        await get_agent(deps, who, GetAgent(agent_id=acme.deleted.id)),
        await list_versions(deps, who, ListVersions(agent_id=acme.agent.id)),
        await list_versions(deps, who, ListVersions(agent_id=acme.deleted.id)),
        await get_live_prompt(deps, who, GetLivePrompt(agent_id=acme.agent.id)),
        await get_compilation_stats(deps, who, GetCompilationStats()),
        await whole_trail(deps, who),
    ]


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
async def test_another_organizations_owner_finds_nothing_and_changes_nothing(deps: Deps, attempt: Attempt) -> None:
    acme = await acme_with_agents(deps)
    globex = await team(deps, "globex")
    before = await everything_of(deps, acme)

    with pytest.raises(AgentNotFound):
        await attempt(deps, globex.owner, acme)

    assert await everything_of(deps, acme) == before


@pytest.mark.parametrize("name", ATTEMPTS.keys())
async def test_another_organizations_member_is_refused_by_role_or_finds_nothing(deps: Deps, name: str) -> None:
    acme = await acme_with_agents(deps)
    globex = await team(deps, "globex")
    before = await everything_of(deps, acme)

    with pytest.raises(RoleTooLow if name in MANAGING else AgentNotFound):
        await ATTEMPTS[name](deps, globex.member, acme)

    assert await everything_of(deps, acme) == before


UNKNOWN_AGENT = UUID(int=2**100)


def unknown_ids(acme: Acme) -> Acme:
    return msgspec.structs.replace(
        acme,
        agent=msgspec.structs.replace(acme.agent, id=UNKNOWN_AGENT),
        deleted=msgspec.structs.replace(acme.deleted, id=UNKNOWN_AGENT),
    )


async def acme_with_agents_in(deps: Deps, org: str) -> Acme:
    """The same setup in another organization, so that its caller has agents and versions of its own."""
    other = await team(deps, org)
    agent = await create_agent(deps, other.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, other.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    return Acme(team=other, agent=agent, live=version, drafted=version, deleted=agent, deleted_version=version)


@pytest.mark.parametrize("attempt", ATTEMPTS.values(), ids=ATTEMPTS.keys())
async def test_a_foreign_id_fails_exactly_like_an_unknown_one(deps: Deps, attempt: Attempt) -> None:
    acme = await acme_with_agents(deps)
    globex = await acme_with_agents_in(deps, "globex")

    with pytest.raises(NotFound) as foreign:
        await attempt(deps, globex.team.owner, acme)
    with pytest.raises(NotFound) as unknown:
        await attempt(deps, globex.team.owner, unknown_ids(acme))

    assert type(foreign.value) is type(unknown.value)
    assert foreign.value.extra() == unknown.value.extra()
    assert str(foreign.value).replace(str(acme.agent.id), "?").replace(str(acme.deleted.id), "?") == str(
        unknown.value
    ).replace(str(UNKNOWN_AGENT), "?")


async def test_a_version_of_another_organization_is_not_found_through_an_own_agent(deps: Deps) -> None:
    acme = await acme_with_agents(deps)
    globex = await acme_with_agents_in(deps, "globex")
    own = globex.agent
    who = globex.team.owner

    for attempt in [
        get_version(deps, who, GetVersion(agent_id=own.id, version_id=acme.live.id)),
        get_version(deps, who, GetVersion(agent_id=own.id, version_id=acme.live.id)),
        compile_version(deps, who, CompileVersion(agent_id=own.id, version_id=acme.drafted.id)),
        activate_version(deps, who, ActivateVersion(agent_id=own.id, version_id=acme.live.id)),
    ]:
        with pytest.raises(NotFound):
            await attempt

    assert (await get_agent(deps, who, GetAgent(agent_id=own.id))).agent.current_blueprint_id is None


async def test_nothing_of_one_organization_shows_in_anothers_lists_search_stats_or_trail(deps: Deps) -> None:
    acme = await acme_with_agents(deps)
    globex = await team(deps, "globex")
    own = await create_agent(deps, globex.member, CreateAgent(name="Globex Buddy"))

    for status in [None, *AgentStatus]:
        page = await list_agents(deps, globex.member, ListAgents(status=status))
        assert [agent.id for agent in page.items] == ([own.id] if status in (None, AgentStatus.ACTIVE) else [])
    assert [a.id for a in await search_agents(deps, globex.member, SearchAgents(query="buddy"))] == [own.id]
    stats = await get_compilation_stats(deps, globex.member, GetCompilationStats())
    assert (stats.total_blueprints, stats.compilation_rate) == (0, 0.0)
    trail = await agents_trail(deps, globex.owner)
    assert [event.target_id for event in trail] == [own.id]
    assert {event.org_id for event in await whole_trail(deps, globex.owner)} == {globex.owner.org_id}
    assert await whole_trail(deps, globex.owner, agent_id=acme.agent.id) == []
    assert await whole_trail(deps, globex.owner, agent_id=acme.deleted.id) == []


async def test_each_organization_sees_its_own_agents_and_counts(deps: Deps) -> None:
    acme = await acme_with_agents(deps)
    globex = await acme_with_agents_in(deps, "globex")

    acme_page = await list_agents(deps, acme.team.member, ListAgents())
    globex_page = await list_agents(deps, globex.team.member, ListAgents())
    acme_found = await search_agents(deps, acme.team.member, SearchAgents(query="Shop Buddy"))
    globex_found = await search_agents(deps, globex.team.member, SearchAgents(query="Shop Buddy"))

    assert [a.id for a in acme_page.items] == [acme.agent.id]
    assert [a.id for a in globex_page.items] == [globex.agent.id]
    assert ([a.id for a in acme_found], [a.id for a in globex_found]) == ([acme.agent.id], [globex.agent.id])
    acme_stats = await get_compilation_stats(deps, acme.team.member, GetCompilationStats())
    globex_stats = await get_compilation_stats(deps, globex.team.member, GetCompilationStats())
    assert (acme_stats.total_blueprints, acme_stats.compiled_blueprints) == (2, 1)
    assert (globex_stats.total_blueprints, globex_stats.compiled_blueprints) == (1, 0)


async def test_a_cursor_from_another_organization_lists_only_the_callers_agents(deps: Deps) -> None:
    acme = await acme_with_agents(deps)
    await create_agent(deps, acme.team.member, CreateAgent(name="second"))
    globex = await team(deps, "globex")
    mine = [await create_agent(deps, globex.member, CreateAgent(name=f"g{i}")) for i in range(3)]
    acme_cursor = (await list_agents(deps, acme.team.member, ListAgents(limit=1))).next_cursor

    page = await list_agents(deps, globex.member, ListAgents(cursor=acme_cursor))

    assert {agent.id for agent in page.items} <= {agent.id for agent in mine}
