"""Blueprint versions through the use cases: write, read, list, compile, activate and roll back, live prompt, stats."""

from typing import Any
from uuid import UUID

import msgspec
import pytest

from application.agents import (
    CreateAgent,
    GetAgent,
    ListAgents,
    SetStatus,
    activate_agent,
    create_agent,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
)
from application.blueprints import (
    MAX_PAGE_BYTES,
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
from domain.agents import Agent
from domain.blueprints import MAX_DEPTH, MAX_ITEMS, BlueprintVersion, CompilationStats, CompilationStatus
from domain.compiler import compile_blueprint
from domain.errors import (
    AgentNotFound,
    BlueprintNotFound,
    InvalidBlueprint,
    Malformed,
    NoLivePrompt,
    RoleTooLow,
    VersionNotCompiled,
)
from domain.roles import Principal
from tests.doubles import T0
from tests.samples import (
    FOUR_VIOLATION_FIELDS,
    Team,
    clock_of,
    missing_identity_name,
    shop_buddy,
    team,
    wholes,
    with_four_violations,
    wrong_typed,
)

pytestmark = pytest.mark.anyio

UNKNOWN = UUID(int=2**100)


async def agent_of(deps: Deps, acme: Team, name: str = "Shop Buddy") -> Agent:
    return await create_agent(deps, acme.member, CreateAgent(name=name))


async def draft(
    deps: Deps, who: Principal, agent: Agent, doc: object, conversation_id: str | None = None
) -> BlueprintVersion:
    return await add_version(
        deps, who, AddVersion(agent_id=agent.id, agent_blueprint=doc, conversation_id=conversation_id)
    )


async def compiled(deps: Deps, acme: Team, agent: Agent, name: str = "Shop Buddy") -> BlueprintVersion:
    version = await draft(deps, acme.member, agent, shop_buddy(name))
    return (await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))).blueprint


async def every_version(
    deps: Deps, who: Principal, agent: Agent, *, limit: int, conversation_id: str | None = None
) -> list[BlueprintVersion]:
    seen: list[BlueprintVersion] = []
    cursor: str | None = None
    while True:
        page = await list_versions(
            deps, who,
            ListVersions(agent_id=agent.id, limit=limit, cursor=cursor, conversation_id=conversation_id,
                         documents=True),
        )  # fmt: skip
        assert len(page.items) <= limit
        seen += wholes(page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def active_id(deps: Deps, who: Principal, agent: Agent) -> UUID | None:
    return (await get_agent(deps, who, GetAgent(agent_id=agent.id))).agent.current_blueprint_id


# -- add a version -----------------------------------------------------------------------------------------------


async def test_versions_are_numbered_1_to_n_and_start_as_drafts(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    made = [await draft(deps, who, agent, shop_buddy(f"v{i}")) for i, who in enumerate(acme.everyone * 2)]

    assert [v.version for v in made] == [1, 2, 3, 4, 5, 6]
    assert {v.compilation_status for v in made} == {CompilationStatus.DRAFT}
    assert [v.created_by for v in made[:3]] == ["acme-owner", "acme-admin", "acme-member"]
    first = made[0]
    assert (first.agent_id, first.created_at, first.conversation_id) == (agent.id, T0, None)
    assert [first.compiled_system_prompt, first.compiled_at, first.compiled_by, first.compile_errors] == [None] * 4


async def test_each_agent_numbers_its_own_versions(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")

    numbers = [(await draft(deps, acme.member, agent, {})).version for agent in [one, two, one, two, two]]

    assert numbers == [1, 1, 2, 2, 3]


async def test_a_new_version_never_becomes_active_by_itself(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await draft(deps, acme.member, agent, shop_buddy())
    assert await active_id(deps, acme.member, agent) is None

    live = await compiled(deps, acme, agent)
    assert await active_id(deps, acme.member, agent) is None
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=live.id))
    newer = await draft(deps, acme.member, agent, shop_buddy("newer"))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=newer.id))

    assert await active_id(deps, acme.member, agent) == live.id
    assert (await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))).blueprint_id == live.id


async def test_a_document_is_stored_verbatim_with_unknown_keys_and_any_json_inside(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc: dict[str, Any] = shop_buddy()
    doc["x_custom"] = {"nested": [1, 2.5, None, True, False, "ünïcödé 🤖", {"deeper": []}], "empty": {}}
    doc["identity"]["mood"] = "sunny"
    doc["tools"].append(None)
    doc["legacy_prompt"] = 'You are a bot.\n\tWith tabs and "quotes" and \\ backslashes.'
    expected: dict[str, Any] = shop_buddy()
    expected.update(
        x_custom={"nested": [1, 2.5, None, True, False, "ünïcödé 🤖", {"deeper": []}], "empty": {}},
        legacy_prompt='You are a bot.\n\tWith tabs and "quotes" and \\ backslashes.',
    )
    expected["identity"]["mood"] = "sunny"
    expected["tools"].append(None)

    version = await draft(deps, acme.member, agent, doc)

    assert version.agent_blueprint == expected
    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    ).agent_blueprint == expected


async def test_the_stored_document_does_not_follow_later_changes_to_the_callers_dict(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc = shop_buddy()

    version = await draft(deps, acme.member, agent, doc)
    doc["identity"]["name"] = "Changed"
    doc["tools"].clear()
    doc["extra"] = 1

    stored = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    assert stored.agent_blueprint == shop_buddy()
    stored.agent_blueprint["identity"]["name"] = "Changed again"
    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    ).agent_blueprint == shop_buddy()


def _nested(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth - 1):
        nested = [nested]
    return nested


async def test_a_document_nested_to_the_limit_is_stored_verbatim_and_compiles(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc = shop_buddy()
    doc["x_nested"] = _nested(MAX_DEPTH - 1)  # plus the document itself: MAX_DEPTH levels of containers

    version = await draft(deps, acme.member, agent, doc)
    result = await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    ).agent_blueprint == doc
    assert result.blueprint.compilation_status is CompilationStatus.COMPILED


async def test_arrays_hold_at_most_the_item_limit_and_a_longer_one_is_refused_by_path(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    tool = {"name": "lookup", "purpose": "look things up"}
    at_limit = shop_buddy() | {"tools": [tool] * MAX_ITEMS}
    over = shop_buddy() | {"tools": [tool] * (MAX_ITEMS + 1), "notes": {"log": list(range(MAX_ITEMS + 1))}}

    assert (await draft(deps, acme.member, agent, at_limit)).agent_blueprint == at_limit
    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, over)

    assert {(v.field, v.message) for v in raised.value.violations} == {
        ("tools", f"at most {MAX_ITEMS} items"),
        ("notes.log", f"at most {MAX_ITEMS} items"),
    }


@pytest.mark.parametrize("depth", [MAX_DEPTH, 900])
async def test_a_document_nested_deeper_than_the_limit_is_refused_and_names_where(deps: Deps, depth: int) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc = shop_buddy()
    doc["x_nested"] = _nested(depth)

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, doc)

    [violation] = raised.value.violations
    assert violation.field == "x_nested" + "[0]" * (MAX_DEPTH - 1)
    assert str(MAX_DEPTH) in violation.message
    assert (await list_versions(deps, acme.member, ListVersions(agent_id=agent.id))).items == []


async def test_an_empty_document_is_a_valid_draft(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    version = await draft(deps, acme.member, agent, {})

    assert (version.version, version.agent_blueprint) == (1, {})


async def test_a_section_of_the_wrong_type_is_invalid_and_writes_no_version(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, wrong_typed())

    assert [v.field for v in raised.value.violations] == ["identity", "tools"]
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).latest_blueprint is None
    assert (await draft(deps, acme.member, agent, {})).version == 1


async def test_every_wrongly_typed_field_is_listed(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc: dict[str, Any] = {
        "identity": {"name": 7, "role": ["r"]},
        "capabilities": [{"task": "t", "examples": "not a list"}, 42],  # a string is a capability (the old shape)
        "workflow": {"steps": ["ok", 3]},
    }

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, doc)

    assert {v.field for v in raised.value.violations} == {
        "identity.name",
        "identity.role",
        "capabilities[0].examples",
        "capabilities[1]",
        "workflow.steps[1]",
    }


@pytest.mark.parametrize("doc", [[], "a string", 42, None, True], ids=["list", "string", "number", "null", "bool"])
async def test_a_document_that_is_not_an_object_is_invalid(deps: Deps, doc: object) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, doc)

    assert [v.field for v in raised.value.violations] == [""]


async def test_a_nul_character_anywhere_in_a_document_is_invalid_with_its_path(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc: dict[str, Any] = shop_buddy()
    doc["identity"]["name"] = "Shop\x00Buddy"
    doc["extra"] = [{"deep": ["fine", "bad\x00"]}]
    doc["key\x00"] = 1

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, doc)

    assert {v.field for v in raised.value.violations} == {"identity.name", "extra[0].deep[1]", "key\x00"}
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).latest_blueprint is None


@pytest.mark.parametrize("conversation_id", ["", "c" * 256, "c\x00"])
async def test_a_conversation_id_must_be_1_to_255_storable_characters(deps: Deps, conversation_id: str) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    with pytest.raises(InvalidBlueprint) as raised:
        await draft(deps, acme.member, agent, {}, conversation_id)

    assert [v.field for v in raised.value.violations] == ["conversation_id"]


async def test_adding_a_version_to_an_unknown_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await add_version(deps, acme.member, AddVersion(agent_id=UNKNOWN, agent_blueprint={}))


async def test_a_switched_off_agent_still_takes_new_versions(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    assert (await draft(deps, acme.member, agent, shop_buddy())).version == 1


# -- read and list versions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 5, 6])
async def test_paging_versions_yields_each_exactly_once_newest_first(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    made = [await draft(deps, acme.member, agent, shop_buddy(f"v{i}")) for i in range(5)]

    assert await every_version(deps, acme.member, agent, limit=limit) == list(reversed(made))


async def test_versions_are_listed_20_at_a_time_unless_told_otherwise(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    for _ in range(21):
        await draft(deps, acme.member, agent, {})

    page = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id))

    assert [v.version for v in page.items] == list(range(21, 1, -1))
    assert page.next_cursor is not None


async def test_the_conversation_filter_lists_only_that_conversations_versions(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    conversations = ["chat-1", None, "chat-2", "chat-1", "chat-1", None]
    made = [await draft(deps, acme.member, agent, {}, conversation) for conversation in conversations]

    in_chat_1 = await every_version(deps, acme.member, agent, limit=2, conversation_id="chat-1")

    assert [v.version for v in in_chat_1] == [5, 4, 1]
    assert [v.id for v in in_chat_1] == [made[4].id, made[3].id, made[0].id]
    assert await every_version(deps, acme.member, agent, limit=2, conversation_id="chat-9") == []


async def test_a_list_gives_summaries_with_the_sizes_of_document_and_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc = {"persona": {"name": "Zoë", "role": "rôle"}, "values": [1, 2.5, True, None], "note": 'a "q" \\ \n'}
    first = await draft(deps, acme.member, agent, doc)
    second = await compiled(deps, acme, agent)

    page = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id))

    assert [(v.id, v.whole) for v in page.items] == [(second.id, None), (first.id, None)]
    newer, older = page.items
    # The document's size in PostgreSQL's text form: `", "` and `": "` between items, UTF-8 as it is.
    written = (
        '{"note": "a \\"q\\" \\\\ \\n", "values": [1, 2.5, true, null], "persona": {"name": "Zoë", "role": "rôle"}}'
    )
    assert older.blueprint_bytes == len(written.encode())
    assert (older.compilation_status, older.prompt_bytes, older.compiled_at) == (CompilationStatus.DRAFT, None, None)
    assert second.compiled_system_prompt is not None
    assert newer.prompt_bytes == len(second.compiled_system_prompt.encode())
    assert (newer.compiled_by, newer.compiled_at, newer.compiler_version) == (
        second.compiled_by,
        second.compiled_at,
        second.compiler_version,
    )
    assert (newer.created_by, newer.created_at, newer.message, newer.version) == (
        second.created_by,
        second.created_at,
        second.message,
        2,
    )


async def test_a_page_with_documents_holds_at_most_max_page_bytes_and_the_next_page_goes_on_from_there(
    deps: Deps,
) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    made = [await draft(deps, acme.member, agent, {"filler": "x" * 200 * 1024, "n": n}) for n in range(12)]
    per_page = MAX_PAGE_BYTES // (200 * 1024 + 20)  # each document is a little over 200 KiB

    first = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, documents=True))
    rest = await list_versions(
        deps, acme.member, ListVersions(agent_id=agent.id, documents=True, cursor=first.next_cursor)
    )

    assert len(first.items) == per_page < 12
    assert sum(v.blueprint_bytes for v in first.items) <= MAX_PAGE_BYTES
    assert wholes(first.items + rest.items) == made[::-1]
    assert rest.next_cursor is None


async def test_a_page_with_documents_holds_one_version_larger_than_max_page_bytes(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    large = {"filler": "x" * (MAX_PAGE_BYTES + 1)}
    made = [await draft(deps, acme.member, agent, large), await draft(deps, acme.member, agent, large)]

    first = await list_compiled_versions(deps, acme.member, ListCompiledVersions(agent_id=agent.id, documents=True))
    page = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, documents=True))

    assert (first.items, first.next_cursor) == ([], None)
    assert wholes(page.items) == [made[1]]
    assert page.next_cursor is not None


async def test_a_list_of_another_organizations_agent_is_not_found_and_says_nothing_of_its_versions(
    deps: Deps,
) -> None:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")
    agent = await agent_of(deps, acme)
    await draft(deps, acme.member, agent, {})

    for documents in (False, True):
        with pytest.raises(AgentNotFound):
            await list_versions(deps, globex.owner, ListVersions(agent_id=agent.id, documents=documents))
        with pytest.raises(AgentNotFound):
            await list_compiled_versions(deps, globex.owner, ListCompiledVersions(agent_id=agent.id,
                                                                                  documents=documents))  # fmt: skip


async def test_a_read_only_unit_of_work_cannot_commit(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    async with deps.uow(read_only=True) as uow:
        assert (await uow.agents.get(acme.member.org_id, agent.id)).id == agent.id
        with pytest.raises(RuntimeError, match="read-only"):
            await uow.commit()
    async with deps.uow() as uow:  # the connection it had is an ordinary one again
        await uow.agents.update(msgspec.structs.replace(agent, name="renamed"))
        await uow.commit()
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.name == "renamed"


async def test_paging_versions_stays_stable_while_versions_are_added(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    for _ in range(4):
        await draft(deps, acme.member, agent, {})

    first = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, limit=2))
    await draft(deps, acme.member, agent, {})
    second = await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, limit=2, cursor=first.next_cursor))

    assert [v.version for v in first.items + second.items] == [4, 3, 2, 1]
    assert second.next_cursor is None


@pytest.mark.parametrize("limit", [0, 101])
async def test_a_version_list_limit_outside_1_to_100_is_malformed(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    with pytest.raises(Malformed) as listing:
        await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, limit=limit))
    with pytest.raises(Malformed) as listing_compiled:
        await list_compiled_versions(deps, acme.member, ListCompiledVersions(agent_id=agent.id, limit=limit))

    assert listing.value.field == listing_compiled.value.field == "limit"


@pytest.mark.parametrize("cursor", ["garbage!", "", "eyJ2ZXJzaW9uIjoiMyJ9", "eyJ2ZXJzaW9uIjozLCJ4IjoxfQ"])
async def test_a_cursor_the_version_list_did_not_issue_is_malformed(deps: Deps, cursor: str) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await draft(deps, acme.member, agent, {})

    with pytest.raises(Malformed) as raised:
        await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, cursor=cursor))

    assert raised.value.field == "cursor"


async def test_an_agent_list_cursor_is_malformed_for_the_version_list(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await agent_of(deps, acme, "other")
    agents_cursor = (await list_agents(deps, acme.member, ListAgents(limit=1))).next_cursor

    with pytest.raises(Malformed):
        await list_versions(deps, acme.member, ListVersions(agent_id=agent.id, cursor=agents_cursor))
    with pytest.raises(Malformed):
        await list_compiled_versions(deps, acme.member, ListCompiledVersions(agent_id=agent.id, cursor=agents_cursor))


async def test_a_version_is_found_only_through_its_own_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")
    version = await draft(deps, acme.member, one, shop_buddy())

    assert await get_version(deps, acme.member, GetVersion(agent_id=one.id, version_id=version.id)) == version
    with pytest.raises(BlueprintNotFound):
        await get_version(deps, acme.member, GetVersion(agent_id=two.id, version_id=version.id))
    with pytest.raises(BlueprintNotFound):
        await get_version(deps, acme.member, GetVersion(agent_id=one.id, version_id=UNKNOWN))
    with pytest.raises(AgentNotFound):
        await get_version(deps, acme.member, GetVersion(agent_id=UNKNOWN, version_id=version.id))


async def test_listing_the_versions_of_an_unknown_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await list_versions(deps, acme.member, ListVersions(agent_id=UNKNOWN))
    with pytest.raises(AgentNotFound):
        await list_compiled_versions(deps, acme.member, ListCompiledVersions(agent_id=UNKNOWN))


# -- compile -----------------------------------------------------------------------------------------------------


async def test_a_member_may_not_compile(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await draft(deps, acme.member, agent, shop_buddy())

    for activate in (False, True):
        with pytest.raises(RoleTooLow):
            await compile_version(
                deps, acme.member, CompileVersion(agent_id=agent.id, version_id=version.id, activate=activate)
            )

    assert await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id)) == version
    assert await active_id(deps, acme.member, agent) is None


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_compiling_a_valid_blueprint_records_the_prompt(deps: Deps, role: str) -> None:
    acme = await team(deps, "acme")
    who = acme.owner if role == "owner" else acme.admin
    agent = await agent_of(deps, acme)
    version = await draft(deps, acme.member, agent, shop_buddy())
    later = clock_of(deps).advance(60)

    result = await compile_version(deps, who, CompileVersion(agent_id=agent.id, version_id=version.id))

    expected = compile_blueprint(shop_buddy())
    done = result.blueprint
    assert done.compilation_status is CompilationStatus.COMPILED
    assert done.compiled_system_prompt == expected.prompt
    assert expected.prompt is not None
    assert "Shop Buddy" in expected.prompt
    assert (done.compiled_at, done.compiled_by, done.compile_errors) == (later, f"acme-{role}", None)
    assert done.compiler_version == expected.compiler_version
    assert (done.version, done.agent_blueprint, done.created_at) == (1, shop_buddy(), T0)
    assert result.message == "compiled"
    assert result.agent.current_blueprint_id is None
    assert await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id)) == done


async def test_the_same_document_compiles_to_a_byte_identical_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")

    first = await compiled(deps, acme, one)
    clock_of(deps).advance()
    reordered = dict(reversed(list(shop_buddy().items())))
    second_draft = await draft(deps, acme.member, two, reordered)
    second = await compile_version(deps, acme.owner, CompileVersion(agent_id=two.id, version_id=second_draft.id))

    assert first.compiled_system_prompt is not None
    assert first.compiled_system_prompt.encode() == (second.blueprint.compiled_system_prompt or "").encode()


async def test_unknown_keys_compile_with_warnings(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    doc: dict[str, Any] = shop_buddy()
    doc["x_custom"] = {"a": 1}
    version = await draft(deps, acme.member, agent, doc)

    result = await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

    assert result.blueprint.compilation_status is CompilationStatus.COMPILED
    assert "x_custom" in {w.field for w in result.warnings}
    assert result.blueprint.agent_blueprint == doc


async def test_an_invalid_blueprint_fails_listing_every_violation_and_is_recorded_failed(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await draft(deps, acme.member, agent, with_four_violations())
    later = clock_of(deps).advance()

    with pytest.raises(InvalidBlueprint) as raised:
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

    assert {v.field for v in raised.value.violations} == FOUR_VIOLATION_FIELDS
    assert len(raised.value.violations) == 4
    stored = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    assert stored.compilation_status is CompilationStatus.FAILED
    assert stored.compile_errors == raised.value.violations
    assert (stored.compiled_system_prompt, stored.compiled_at, stored.compiled_by) == (None, later, "acme-admin")
    assert stored.agent_blueprint == with_four_violations()


async def test_recompiling_a_compiled_version_returns_the_stored_result_unchanged(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    first = await compiled(deps, acme, agent)
    clock_of(deps).advance(3600)

    again = await compile_version(deps, acme.owner, CompileVersion(agent_id=agent.id, version_id=first.id))

    assert again.blueprint == first
    assert (again.blueprint.compiled_at, again.blueprint.compiled_by) == (T0, "acme-admin")
    assert again.message != "compiled"
    assert await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=first.id)) == first


async def test_recompiling_a_failed_version_fails_again(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await draft(deps, acme.member, agent, missing_identity_name())
    for _ in range(2):
        with pytest.raises(InvalidBlueprint) as raised:
            await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
        assert [v.field for v in raised.value.violations] == ["identity.name"]

    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    ).compilation_status is CompilationStatus.FAILED


async def test_compile_with_activate_makes_the_version_live_in_the_same_step(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await draft(deps, acme.member, agent, shop_buddy())
    later = clock_of(deps).advance()

    result = await compile_version(
        deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True)
    )

    assert (result.agent.current_blueprint_id, result.agent.updated_at) == (version.id, later)
    assert "active" in result.message
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == result.agent
    live = await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))
    assert (live.blueprint_id, live.compiled_system_prompt) == (version.id, result.blueprint.compiled_system_prompt)


async def test_compile_with_activate_on_a_compiled_version_activates_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)

    result = await compile_version(
        deps, acme.owner, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True)
    )

    assert result.blueprint == version
    assert await active_id(deps, acme.member, agent) == version.id


async def test_a_failed_compile_with_activate_activates_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    live = await compiled(deps, acme, agent)
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=live.id))
    broken = await draft(deps, acme.member, agent, missing_identity_name())

    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=broken.id, activate=True))

    assert await active_id(deps, acme.member, agent) == live.id
    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=broken.id))
    ).compilation_status is CompilationStatus.FAILED


async def test_compiling_a_version_of_another_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")
    version = await draft(deps, acme.member, one, shop_buddy())

    with pytest.raises(BlueprintNotFound):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=two.id, version_id=version.id, activate=True))

    assert await get_version(deps, acme.member, GetVersion(agent_id=one.id, version_id=version.id)) == version
    assert await active_id(deps, acme.member, two) is None


# -- activate and roll back --------------------------------------------------------------------------------------


async def test_a_draft_or_failed_version_cannot_be_activated(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    drafted = await draft(deps, acme.member, agent, shop_buddy())
    failed = await draft(deps, acme.member, agent, missing_identity_name())
    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=failed.id))

    for version, status in [(drafted, "draft"), (failed, "failed")]:
        with pytest.raises(VersionNotCompiled) as raised:
            await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=version.id))
        assert raised.value.extra() == {"compilation_status": status}

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent


async def test_a_member_may_not_activate_a_version(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)

    with pytest.raises(RoleTooLow):
        await activate_version(deps, acme.member, ActivateVersion(agent_id=agent.id, version_id=version.id))

    assert await active_id(deps, acme.member, agent) is None


async def test_activating_an_older_compiled_version_rolls_back(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    old = await compiled(deps, acme, agent, "Old")
    new = await compiled(deps, acme, agent, "New")
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=new.id))
    assert (await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))).version == 2

    back = await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=old.id))

    assert back.current_blueprint_id == old.id
    live = await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))
    assert (live.blueprint_id, live.version, live.compiled_system_prompt) == (old.id, 1, old.compiled_system_prompt)
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).latest_blueprint == new


async def test_activating_the_active_version_again_changes_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)
    first = await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))
    clock_of(deps).advance()

    again = await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))

    assert again == first == (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent


async def test_activating_a_version_of_another_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")
    version = await compiled(deps, acme, one)

    with pytest.raises(BlueprintNotFound):
        await activate_version(deps, acme.admin, ActivateVersion(agent_id=two.id, version_id=version.id))
    with pytest.raises(BlueprintNotFound):
        await activate_version(deps, acme.admin, ActivateVersion(agent_id=one.id, version_id=UNKNOWN))

    assert await active_id(deps, acme.member, two) is None


async def test_a_switched_off_agent_may_get_an_active_version_but_serves_no_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    activated = await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))

    assert activated.current_blueprint_id == version.id
    with pytest.raises(NoLivePrompt):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))


# -- compilation status and compiled versions --------------------------------------------------------------------


async def test_the_compilation_status_follows_the_version(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    good = await draft(deps, acme.member, agent, shop_buddy())
    bad = await draft(deps, acme.member, agent, missing_identity_name())

    before = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=good.id))
    assert before.compilation_status is CompilationStatus.DRAFT
    assert [before.compiled_at, before.compiled_by, before.compile_errors, before.compiler_version] == [None] * 4

    later = clock_of(deps).advance()
    done = await compile_version(deps, acme.owner, CompileVersion(agent_id=agent.id, version_id=good.id))
    with pytest.raises(InvalidBlueprint) as raised:
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=bad.id))

    ok = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=good.id))
    assert (ok.compilation_status, ok.compiled_at, ok.compiled_by) == (CompilationStatus.COMPILED, later, "acme-owner")
    assert ok.compile_errors is None
    assert ok.compiler_version == done.blueprint.compiler_version
    failed = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=bad.id))
    assert (failed.compilation_status, failed.compiled_at, failed.compiled_by) == (
        CompilationStatus.FAILED,
        later,
        "acme-admin",
    )
    assert failed.compile_errors == raised.value.violations


async def test_the_compilation_status_of_a_version_of_another_agent_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")
    version = await draft(deps, acme.member, one, {})

    with pytest.raises(BlueprintNotFound):
        await get_version(deps, acme.member, GetVersion(agent_id=two.id, version_id=version.id))


async def test_the_compiled_list_holds_only_compiled_versions_newest_first(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    first = await compiled(deps, acme, agent, "first")
    await draft(deps, acme.member, agent, shop_buddy())
    failed = await draft(deps, acme.member, agent, missing_identity_name())
    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=failed.id))
    second = await compiled(deps, acme, agent, "second")
    third = await compiled(deps, acme, agent, "third")

    seen: list[BlueprintVersion] = []
    cursor: str | None = None
    while True:
        page = await list_compiled_versions(
            deps, acme.member, ListCompiledVersions(agent_id=agent.id, limit=1, cursor=cursor, documents=True)
        )
        seen += wholes(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [third, second, first]
    everything = await list_compiled_versions(deps, acme.member, ListCompiledVersions(agent_id=agent.id))
    assert ([v.id for v in everything.items], everything.next_cursor) == ([third.id, second.id, first.id], None)


# -- the live prompt ---------------------------------------------------------------------------------------------


async def test_there_is_no_live_prompt_until_a_version_is_active(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    with pytest.raises(NoLivePrompt):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))
    await compiled(deps, acme, agent)

    with pytest.raises(NoLivePrompt):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))


async def test_the_live_prompt_is_the_active_versions_compiled_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await compiled(deps, acme, agent, "Old")
    clock_of(deps).advance()
    version = await compiled(deps, acme, agent, "Live")
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))
    await draft(deps, acme.member, agent, shop_buddy("Newer draft"))

    live = await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))

    assert (live.agent_id, live.blueprint_id, live.version) == (agent.id, version.id, 2)
    assert version.compiled_system_prompt is not None
    assert "Live" in version.compiled_system_prompt
    assert (live.compiled_system_prompt, live.compiled_at) == (version.compiled_system_prompt, version.compiled_at)


async def test_a_switched_off_agent_serves_no_prompt_until_switched_on_again(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))

    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    with pytest.raises(NoLivePrompt):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))

    await activate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    assert (await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))).blueprint_id == version.id


async def test_a_deleted_agent_serves_no_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    version = await compiled(deps, acme, agent)
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=version.id))

    await delete_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    with pytest.raises(NoLivePrompt):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))


async def test_the_live_prompt_of_an_unknown_agent_is_agent_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(AgentNotFound):
        await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=UNKNOWN))


# -- stats -------------------------------------------------------------------------------------------------------


async def test_an_organization_without_versions_has_zero_stats(deps: Deps) -> None:
    acme = await team(deps, "acme")
    await agent_of(deps, acme)

    stats = await get_compilation_stats(deps, acme.member, GetCompilationStats())

    assert stats == CompilationStats(
        total_blueprints=0, compiled_blueprints=0, draft_blueprints=0, failed_blueprints=0, compilation_rate=0.0
    )


async def test_stats_count_versions_by_status_over_live_agents_only(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two, off, gone = [await agent_of(deps, acme, name) for name in ["one", "two", "off", "gone"]]
    await compiled(deps, acme, one)
    await draft(deps, acme.member, one, {})
    broken = await draft(deps, acme.member, two, missing_identity_name())
    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=two.id, version_id=broken.id))
    await compiled(deps, acme, off)
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=off.id))
    await compiled(deps, acme, gone)
    await draft(deps, acme.member, gone, {})
    await delete_agent(deps, acme.admin, SetStatus(agent_id=gone.id))

    stats = await get_compilation_stats(deps, acme.member, GetCompilationStats())

    assert stats == CompilationStats(
        total_blueprints=4, compiled_blueprints=2, draft_blueprints=1, failed_blueprints=1, compilation_rate=50.0
    )


@pytest.mark.parametrize(
    ("compiled_count", "draft_count", "rate"), [(1, 2, 33.33), (2, 1, 66.67), (1, 7, 12.5), (3, 0, 100.0)]
)
async def test_the_compilation_rate_is_a_percentage_with_two_decimals(
    deps: Deps, compiled_count: int, draft_count: int, rate: float
) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    for _ in range(compiled_count):
        await compiled(deps, acme, agent)
    for _ in range(draft_count):
        await draft(deps, acme.member, agent, {})

    assert (await get_compilation_stats(deps, acme.member, GetCompilationStats())).compilation_rate == rate
