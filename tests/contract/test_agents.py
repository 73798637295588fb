"""Agents through the use cases: create, create with a blueprint, list, search, read, update, switch on/off, delete."""

import base64
from collections.abc import Awaitable, Callable
from uuid import UUID

import pytest

from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    GetAgent,
    ListAgents,
    SearchAgents,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    create_agent_with_blueprint,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
    search_agents,
    update_agent,
)
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetCompilationStats,
    GetVersion,
    ListVersions,
    activate_version,
    add_version,
    compile_version,
    get_compilation_stats,
    get_version,
    list_versions,
)
from application.deps import Deps
from domain.agents import Agent, AgentStatus
from domain.blueprints import CompilationStatus
from domain.errors import (
    AgentDeleted,
    AgentNotFound,
    InvalidAgent,
    InvalidBlueprint,
    InvalidSearch,
    Malformed,
    RoleTooLow,
)
from domain.roles import Principal
from tests.doubles import T0
from tests.samples import clock_of, missing_identity_name, shop_buddy, team, wholes, wrong_typed

pytestmark = pytest.mark.anyio

UNKNOWN = UUID(int=2**100)

SwitchAgent = Callable[[Deps, Principal, SetStatus], Awaitable[Agent]]


async def every_page(deps: Deps, who: Principal, *, limit: int, status: AgentStatus | None = None) -> list[Agent]:
    seen: list[Agent] = []
    cursor: str | None = None
    while True:
        page = await list_agents(deps, who, ListAgents(status=status, limit=limit, cursor=cursor))
        assert len(page.items) <= limit
        seen += page.items
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def names(deps: Deps, who: Principal, status: AgentStatus | None = None) -> list[str]:
    return [agent.name for agent in await every_page(deps, who, limit=100, status=status)]


# -- create ------------------------------------------------------------------------------------------------------


async def test_a_new_agent_is_active_has_no_blueprint_and_belongs_to_the_callers_organization(deps: Deps) -> None:
    acme = await team(deps, "acme")

    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", description="Answers shoppers"))

    assert (agent.name, agent.description, agent.status) == ("Shop Buddy", "Answers shoppers", AgentStatus.ACTIVE)
    assert (agent.org_id, agent.created_by) == (acme.member.org_id, "acme-member")
    assert agent.created_at == agent.updated_at == T0
    assert agent.current_blueprint_id is None
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent


async def test_every_role_may_create_an_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")

    for who in acme.everyone:
        await create_agent(deps, who, CreateAgent(name=f"made by {who.role}"))

    assert sorted(await names(deps, acme.member)) == ["made by admin", "made by member", "made by owner"]


async def test_storage_numbers_agents_with_distinct_small_integers(deps: Deps) -> None:
    acme = await team(deps, "acme")

    numbers = [(await create_agent(deps, acme.member, CreateAgent(name=f"a{i}"))).number for i in range(3)]

    assert all(isinstance(number, int) and number > 0 for number in numbers)
    assert len(set(numbers)) == 3


async def test_the_name_is_trimmed(deps: Deps) -> None:
    acme = await team(deps, "acme")

    agent = await create_agent(deps, acme.member, CreateAgent(name="  \tShop Buddy \n"))

    assert agent.name == "Shop Buddy"
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.name == "Shop Buddy"


@pytest.mark.parametrize("name", ["", " ", "\t\n  "])
async def test_a_blank_name_is_invalid_and_creates_nothing(deps: Deps, name: str) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidAgent) as raised:
        await create_agent(deps, acme.member, CreateAgent(name=name))

    assert [v.field for v in raised.value.violations] == ["name"]
    assert await names(deps, acme.member) == []


async def test_a_name_of_255_characters_is_kept_whole_even_outside_ascii(deps: Deps) -> None:
    acme = await team(deps, "acme")
    name = "é" * 200 + "🤖" * 55

    agent = await create_agent(deps, acme.member, CreateAgent(name=f"  {name}  "))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.name == name


async def test_a_name_over_255_characters_is_invalid(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidAgent) as raised:
        await create_agent(deps, acme.member, CreateAgent(name="x" * 256))

    assert [v.field for v in raised.value.violations] == ["name"]
    assert await names(deps, acme.member) == []


async def test_a_bad_name_and_a_bad_description_are_reported_together(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidAgent) as raised:
        await create_agent(deps, acme.member, CreateAgent(name=" ", description="d" * 10_001))

    assert [v.field for v in raised.value.violations] == ["name", "description"]


@pytest.mark.parametrize(("name", "description"), [("Shop\x00Buddy", None), ("Shop Buddy", "nul \x00 inside")])
async def test_a_nul_character_cannot_be_stored_so_it_is_invalid(
    deps: Deps, name: str, description: str | None
) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidAgent):
        await create_agent(deps, acme.member, CreateAgent(name=name, description=description))

    assert await names(deps, acme.member) == []


# -- create with a blueprint -------------------------------------------------------------------------------------


async def test_creating_with_a_blueprint_makes_the_agent_and_its_version_1_as_a_draft(deps: Deps) -> None:
    acme = await team(deps, "acme")
    doc = shop_buddy()

    made = await create_agent_with_blueprint(
        deps,
        acme.member,
        CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=doc, description="d", conversation_id="conv-1"),
    )

    assert (made.agent.name, made.agent.status) == ("Shop Buddy", AgentStatus.ACTIVE)
    assert made.agent.current_blueprint_id is None
    version = made.blueprint
    assert (version.agent_id, version.version) == (made.agent.id, 1)
    assert version.compilation_status is CompilationStatus.DRAFT
    assert (version.agent_blueprint, version.conversation_id, version.created_by) == (doc, "conv-1", "acme-member")
    detail = await get_agent(deps, acme.member, GetAgent(agent_id=made.agent.id))
    assert detail.blueprint is None
    assert detail.latest_blueprint == version


async def test_a_draft_need_not_compile_to_be_created_with_its_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")

    made = await create_agent_with_blueprint(
        deps, acme.member, CreateAgentWithBlueprint(name="n", agent_blueprint=missing_identity_name())
    )

    assert made.blueprint.compilation_status is CompilationStatus.DRAFT


async def test_an_invalid_blueprint_creates_no_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidBlueprint) as raised:
        await create_agent_with_blueprint(
            deps, acme.member, CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=wrong_typed())
        )

    assert [v.field for v in raised.value.violations] == ["identity", "tools"]
    assert await names(deps, acme.member) == []
    assert (await get_compilation_stats(deps, acme.member, GetCompilationStats())).total_blueprints == 0


async def test_an_invalid_name_creates_no_version(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidAgent):
        await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(name="", agent_blueprint={}))

    assert await names(deps, acme.member) == []
    assert (await get_compilation_stats(deps, acme.member, GetCompilationStats())).total_blueprints == 0


async def test_a_conversation_id_over_255_characters_creates_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidBlueprint) as raised:
        await create_agent_with_blueprint(
            deps, acme.member, CreateAgentWithBlueprint(name="n", agent_blueprint={}, conversation_id="c" * 256)
        )

    assert [v.field for v in raised.value.violations] == ["conversation_id"]
    assert await names(deps, acme.member) == []


# -- list --------------------------------------------------------------------------------------------------------


async def test_agents_are_listed_newest_first(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for name in ["first", "second", "third"]:
        await create_agent(deps, acme.member, CreateAgent(name=name))
        clock_of(deps).advance()

    assert await names(deps, acme.member) == ["third", "second", "first"]


async def test_agents_created_at_the_same_instant_are_listed_newest_first_too(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for name in ["first", "second", "third"]:
        await create_agent(deps, acme.member, CreateAgent(name=name))

    assert await names(deps, acme.member) == ["third", "second", "first"]


async def test_deleted_agents_are_listed_only_when_asked_for(deps: Deps) -> None:
    acme = await team(deps, "acme")
    _kept, switched_off, gone = [
        await create_agent(deps, acme.member, CreateAgent(name=name)) for name in ["kept", "switched off", "gone"]
    ]
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=switched_off.id))
    await delete_agent(deps, acme.admin, SetStatus(agent_id=gone.id))

    assert await names(deps, acme.member) == ["switched off", "kept"]
    assert await names(deps, acme.member, AgentStatus.ACTIVE) == ["kept"]
    assert await names(deps, acme.member, AgentStatus.DEACTIVE) == ["switched off"]
    assert await names(deps, acme.member, AgentStatus.DELETE) == ["gone"]


@pytest.mark.parametrize("limit", [0, -1, 101, 10**6])
async def test_a_limit_outside_1_to_100_is_malformed(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(Malformed) as raised:
        await list_agents(deps, acme.member, ListAgents(limit=limit))

    assert raised.value.field == "limit"


async def test_a_list_holds_20_agents_unless_told_otherwise_and_at_most_100(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for i in range(101):
        await create_agent(deps, acme.member, CreateAgent(name=f"agent {i}"))

    default = await list_agents(deps, acme.member, ListAgents())
    widest = await list_agents(deps, acme.member, ListAgents(limit=100))
    narrowest = await list_agents(deps, acme.member, ListAgents(limit=1))

    assert (len(default.items), len(widest.items), len(narrowest.items)) == (20, 100, 1)
    assert None not in (default.next_cursor, widest.next_cursor, narrowest.next_cursor)


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8])
async def test_paging_with_the_cursor_yields_every_agent_exactly_once_in_order(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")
    made = []
    for i in range(7):
        made.append(await create_agent(deps, acme.member, CreateAgent(name=f"agent {i}")))
        if i % 3 == 0:  # some share an instant, some do not: the id breaks ties
            clock_of(deps).advance()

    paged = await every_page(deps, acme.member, limit=limit)

    assert [agent.id for agent in paged] == [agent.id for agent in reversed(made)]


async def test_the_last_page_has_no_cursor_even_when_it_is_full(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for i in range(4):
        await create_agent(deps, acme.member, CreateAgent(name=f"agent {i}"))

    first = await list_agents(deps, acme.member, ListAgents(limit=2))
    second = await list_agents(deps, acme.member, ListAgents(limit=2, cursor=first.next_cursor))

    assert first.next_cursor is not None
    assert (len(second.items), second.next_cursor) == (2, None)


async def test_paging_stays_stable_while_agents_are_added_between_pages(deps: Deps) -> None:
    acme = await team(deps, "acme")
    before = [await create_agent(deps, acme.member, CreateAgent(name=f"old {i}")) for i in range(5)]

    seen: list[Agent] = []
    cursor: str | None = None
    for round_ in range(10):
        page = await list_agents(deps, acme.member, ListAgents(limit=2, cursor=cursor))
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        await create_agent(deps, acme.member, CreateAgent(name=f"new {round_}"))  # same instant, a later id
        clock_of(deps).advance()
        await create_agent(deps, acme.member, CreateAgent(name=f"newer {round_}"))

    assert [agent.id for agent in seen] == [agent.id for agent in reversed(before)]


async def test_paging_deleted_agents_with_the_cursor_yields_each_once(deps: Deps) -> None:
    acme = await team(deps, "acme")
    made = [await create_agent(deps, acme.member, CreateAgent(name=f"agent {i}")) for i in range(5)]
    for agent in made[1:]:
        await delete_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    deleted = await every_page(deps, acme.member, limit=2, status=AgentStatus.DELETE)

    assert [agent.id for agent in deleted] == [agent.id for agent in reversed(made[1:])]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


NOT_OUR_CURSORS = {
    "garbage": "garbage!",
    "empty": "",
    "not base64 json": _b64(b"\xff\xfe not json"),
    "a version list cursor": _b64(b'{"version":3}'),
    "an unknown field": _b64(
        b'{"created_at":"2026-01-01T12:00:00Z","id":"00000000-0000-0000-0000-000000000001","x":1}'
    ),
    "a time without zone": _b64(b'{"created_at":"2026-01-01T12:00:00","id":"00000000-0000-0000-0000-000000000001"}'),
    "not a uuid": _b64(b'{"created_at":"2026-01-01T12:00:00Z","id":"nope"}'),
    "a json array": _b64(b"[1, 2]"),
    "too long": "A" * 10_000,
    "not ascii": "curs\u00f6r",
}


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS.values(), ids=NOT_OUR_CURSORS.keys())
async def test_a_cursor_this_list_did_not_issue_is_malformed(deps: Deps, cursor: str) -> None:
    acme = await team(deps, "acme")
    await create_agent(deps, acme.member, CreateAgent(name="agent"))

    with pytest.raises(Malformed) as raised:
        await list_agents(deps, acme.member, ListAgents(cursor=cursor))

    assert raised.value.field == "cursor"


async def test_a_version_list_cursor_is_malformed_for_the_agent_list(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="agent"))
    for _ in range(3):
        await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint={}))
    versions_cursor = (await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, limit=1))).next_cursor

    with pytest.raises(Malformed):
        await list_agents(deps, acme.member, ListAgents(cursor=versions_cursor))


# -- search ------------------------------------------------------------------------------------------------------


async def test_search_finds_names_containing_the_query_ignoring_case_newest_first(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for name in ["Shop Buddy", "Returns bot", "BUDDY for stock", "buddhist calendar"]:
        await create_agent(deps, acme.member, CreateAgent(name=name))
        clock_of(deps).advance()

    found = await search_agents(deps, acme.member, SearchAgents(query="  bUdDy "))

    assert [agent.name for agent in found] == ["BUDDY for stock", "Shop Buddy"]


async def test_search_takes_like_wildcards_literally(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for name in ["100% cotton", "snake_case bot", "plain", "back\\slash"]:
        await create_agent(deps, acme.member, CreateAgent(name=name))

    assert [a.name for a in await search_agents(deps, acme.member, SearchAgents(query="%"))] == ["100% cotton"]
    assert [a.name for a in await search_agents(deps, acme.member, SearchAgents(query="_"))] == ["snake_case bot"]
    assert [a.name for a in await search_agents(deps, acme.member, SearchAgents(query="\\"))] == ["back\\slash"]


async def test_search_leaves_deleted_agents_out_but_finds_switched_off_ones(deps: Deps) -> None:
    acme = await team(deps, "acme")
    on, off, gone = [await create_agent(deps, acme.member, CreateAgent(name=f"bot {n}")) for n in ["on", "off", "gone"]]
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=off.id))
    await delete_agent(deps, acme.admin, SetStatus(agent_id=gone.id))

    found = await search_agents(deps, acme.member, SearchAgents(query="bot"))

    assert {agent.id for agent in found} == {on.id, off.id}


async def test_search_returns_at_most_limit_agents(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for i in range(25):
        await create_agent(deps, acme.member, CreateAgent(name=f"bot {i}"))

    assert len(await search_agents(deps, acme.member, SearchAgents(query="bot"))) == 20
    assert len(await search_agents(deps, acme.member, SearchAgents(query="bot", limit=3))) == 3


@pytest.mark.parametrize("query", ["", "   ", "x" * 256, "nul\x00"])
async def test_a_blank_or_oversized_query_is_invalid(deps: Deps, query: str) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidSearch) as raised:
        await search_agents(deps, acme.member, SearchAgents(query=query))

    assert [v.field for v in raised.value.violations] == ["query"]


@pytest.mark.parametrize("limit", [0, 101])
async def test_a_search_limit_outside_1_to_100_is_malformed(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(Malformed):
        await search_agents(deps, acme.member, SearchAgents(query="bot", limit=limit))


# -- get ---------------------------------------------------------------------------------------------------------


async def test_an_agent_without_versions_has_neither_an_active_nor_a_latest_one(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="agent"))

    detail = await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))

    assert (detail.agent, detail.blueprint, detail.latest_blueprint) == (agent, None, None)


async def test_get_shows_the_active_and_the_newest_version(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="agent"))
    v1 = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v1.id, activate=True))
    v2 = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy("Two")))

    detail = await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))

    assert detail.agent.current_blueprint_id == v1.id
    assert detail.blueprint == await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=v1.id))
    assert detail.blueprint is not None
    assert detail.blueprint.compilation_status is CompilationStatus.COMPILED
    assert detail.latest_blueprint == v2


async def test_an_unknown_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await get_agent(deps, acme.member, GetAgent(agent_id=UNKNOWN))


# -- update ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_owners_and_admins_rename_and_describe_an_agent(deps: Deps, role: str) -> None:
    acme = await team(deps, "acme")
    who = acme.owner if role == "owner" else acme.admin
    agent = await create_agent(deps, acme.member, CreateAgent(name="old", description="old text"))
    later = clock_of(deps).advance()

    updated = await update_agent(deps, who, UpdateAgent(agent_id=agent.id, name="  new ", description="new text"))

    assert (updated.name, updated.description) == ("new", "new text")
    assert (updated.created_at, updated.updated_at) == (T0, later)
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == updated


async def test_an_update_changes_only_the_fields_given(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name", description="text"))

    renamed = await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name="other"))
    switched_off = await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DEACTIVE))
    cleared = await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, clear_description=True))

    assert (renamed.name, renamed.description, renamed.status) == ("other", "text", AgentStatus.ACTIVE)
    assert (switched_off.name, switched_off.description, switched_off.status) == ("other", "text", AgentStatus.DEACTIVE)
    assert (cleared.name, cleared.description, cleared.status) == ("other", None, AgentStatus.DEACTIVE)


async def test_a_member_may_not_update_an_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))

    with pytest.raises(RoleTooLow):
        await update_agent(deps, acme.member, UpdateAgent(agent_id=agent.id, name="mine now"))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent


async def test_an_update_to_an_invalid_name_changes_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))

    with pytest.raises(InvalidAgent):
        await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name="  ", description="fine"))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent


async def test_an_update_that_changes_nothing_keeps_the_agent_as_it_was(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name", description="text"))
    clock_of(deps).advance()

    same = await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name=" name ", description="text"))

    assert same == agent
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.updated_at == T0


async def test_a_deleted_agent_cannot_be_updated(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))
    deleted = await delete_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    for change in [
        UpdateAgent(agent_id=agent.id, name="back"),
        UpdateAgent(agent_id=agent.id, status=AgentStatus.ACTIVE),
    ]:
        with pytest.raises(AgentDeleted):
            await update_agent(deps, acme.owner, change)

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == deleted


async def test_updating_an_unknown_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await update_agent(deps, acme.owner, UpdateAgent(agent_id=UNKNOWN, name="x"))


# -- activate, deactivate, delete --------------------------------------------------------------------------------


async def test_owners_and_admins_switch_an_agent_off_and_on(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))

    off = await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    on = await activate_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    assert (off.status, on.status) == (AgentStatus.DEACTIVE, AgentStatus.ACTIVE)
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.status is AgentStatus.ACTIVE


async def test_a_member_may_not_switch_an_agent_off_on_or_delete_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))

    for use_case in (deactivate_agent, activate_agent, delete_agent):
        with pytest.raises(RoleTooLow):
            await use_case(deps, acme.member, SetStatus(agent_id=agent.id))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent


async def test_a_deleted_agent_stays_readable_with_its_versions(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))

    deleted = await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    assert deleted.status is AgentStatus.DELETE
    detail = await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))
    assert (detail.agent, detail.latest_blueprint) == (deleted, version)
    listed = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, documents=True))
    assert wholes(listed.items) == [version]
    assert await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id)) == version


async def test_deleting_twice_is_not_an_error_and_changes_nothing_the_second_time(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))
    first = await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))
    clock_of(deps).advance()

    second = await delete_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    assert second == first == (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent


async def test_a_deleted_agent_can_be_neither_switched_on_nor_off(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))
    deleted = await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    for use_case in (activate_agent, deactivate_agent):
        with pytest.raises(AgentDeleted):
            await use_case(deps, acme.owner, SetStatus(agent_id=agent.id))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == deleted


async def test_a_deleted_agent_takes_no_new_version_compile_or_activation(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="name"))
    compiled = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=compiled.id))
    draft = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    with pytest.raises(AgentDeleted):
        await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    for version_id in (compiled.id, draft.id):
        with pytest.raises(AgentDeleted):
            await compile_version(deps, acme.owner, CompileVersion(agent_id=agent.id, version_id=version_id))
        with pytest.raises(AgentDeleted):
            await compile_version(
                deps, acme.owner, CompileVersion(agent_id=agent.id, version_id=version_id, activate=True)
            )
    with pytest.raises(AgentDeleted):
        await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=compiled.id))

    detail = await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))
    assert (detail.agent.current_blueprint_id, detail.latest_blueprint) == (None, draft)
    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=draft.id))
    ).compilation_status is CompilationStatus.DRAFT


@pytest.mark.parametrize("use_case", [activate_agent, deactivate_agent, delete_agent])
async def test_switching_an_unknown_agent_is_not_found(deps: Deps, use_case: SwitchAgent) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await use_case(deps, acme.owner, SetStatus(agent_id=UNKNOWN))
