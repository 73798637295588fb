"""The audit trail: one event per change, in the change's transaction (a failed use case leaves neither behind), and
read back newest first, filtered and paged, within the caller's organization."""

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    GetAgent,
    ListAgents,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    create_agent_with_blueprint,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
    update_agent,
)
from application.audit import ListAgentAuditEvents, ListAuditEvents, list_agent_audit_events, list_audit_events
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetCompilationStats,
    GetVersion,
    activate_version,
    add_version,
    compile_version,
    get_compilation_stats,
    get_version,
)
from application.deps import Deps
from application.labels import MoveLabel, ProtectLabel, move_label_to, protect_label
from application.pagination import MAX_LIMIT
from application.ports import IdSource
from application.tokens import OPERATOR, RevokeToken, revoke_token
from domain.agents import Agent, AgentStatus
from domain.audit import Action, AuditEvent
from domain.blueprints import BlueprintVersion, CompilationStatus
from domain.compiler import COMPILER_VERSION
from domain.errors import AgentDeleted, AgentNotFound, InvalidAgent, InvalidBlueprint, RoleTooLow, VersionNotCompiled
from domain.roles import Principal
from tests.doubles import T0
from tests.samples import Team, clock_of, missing_identity_name, shop_buddy, team

pytestmark = pytest.mark.anyio


class IdSourceDown(Exception):
    pass


class FailingIds:
    """Hands out the ids of `inner` until call number `fail_on`, which raises: a fault in the middle of a use case,
    after it has written through its unit of work."""

    def __init__(self, inner: IdSource, fail_on: int) -> None:
        self.inner = inner
        self.calls = 0
        self.fail_on = fail_on

    def new_id(self) -> UUID:
        self.calls += 1
        if self.calls == self.fail_on:
            raise IdSourceDown
        return self.inner.new_id()


def failing_on(deps: Deps, call: int) -> Deps:
    return dataclasses.replace(deps, ids=FailingIds(deps.ids, call))


async def whole_trail(deps: Deps, who: Principal, **filters: Any) -> list[AuditEvent]:
    """Every event of the caller's organization that the filters select, oldest first, read page by page."""
    found: list[AuditEvent] = []
    cursor = None
    while True:
        page = await list_audit_events(deps, who, ListAuditEvents(limit=MAX_LIMIT, cursor=cursor, **filters))
        found.extend(page.items)
        if page.next_cursor is None:
            return found[::-1]
        cursor = page.next_cursor


async def agents_trail(deps: Deps, who: Principal) -> list[AuditEvent]:
    """The events about agents, oldest first: without the tokens' (each caller a test makes writes one)."""
    return [event for event in await whole_trail(deps, who) if event.agent_id is not None]


async def agent_history(deps: Deps, who: Principal, agent_id: UUID, limit: int = MAX_LIMIT) -> list[AuditEvent]:
    """One agent's events, newest first, read page by page."""
    found: list[AuditEvent] = []
    cursor = None
    while True:
        cmd = ListAgentAuditEvents(agent_id=agent_id, limit=limit, cursor=cursor)
        page = await list_agent_audit_events(deps, who, cmd)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def summary(events: list[AuditEvent]) -> list[tuple[Action, UUID, str]]:
    return [(event.action, event.target_id, event.actor) for event in events]


async def trail(deps: Deps, who: Principal) -> list[tuple[Action, UUID, str]]:
    return summary(await agents_trail(deps, who))


async def compiled_versions(deps: Deps, who: Team, agent: Agent, count: int) -> list[BlueprintVersion]:
    made = []
    for _ in range(count):
        version = await add_version(deps, who.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
        await compile_version(deps, who.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
        made.append(version)
    return made


# -- writing ------------------------------------------------------------------------------------------------------


async def test_every_change_writes_one_event_naming_actor_action_target_agent_and_time(deps: Deps) -> None:
    acme = await team(deps, "acme")
    clock = clock_of(deps)
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    clock.advance()
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    clock.advance()
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    clock.advance()
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=version.id))
    clock.advance()
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name="Renamed"))
    clock.advance()
    await deactivate_agent(deps, acme.owner, SetStatus(agent_id=agent.id))
    clock.advance()
    await activate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    clock.advance()
    await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    events = await agents_trail(deps, acme.owner)

    assert summary(events) == [
        (Action.AGENT_CREATE, agent.id, "acme-member"),
        (Action.BLUEPRINT_CREATE, version.id, "acme-member"),
        (Action.BLUEPRINT_COMPILE, version.id, "acme-admin"),
        (Action.LABEL_MOVE, agent.id, "acme-owner"),
        (Action.AGENT_UPDATE, agent.id, "acme-admin"),
        (Action.AGENT_DEACTIVATE, agent.id, "acme-owner"),
        (Action.AGENT_ACTIVATE, agent.id, "acme-admin"),
        (Action.AGENT_DELETE, agent.id, "acme-owner"),
    ]
    assert {event.agent_id for event in events} == {agent.id}
    assert [event.occurred_at for event in events] == [T0 + timedelta(seconds=i) for i in range(8)]
    assert {event.org_id for event in events} == {acme.owner.org_id}
    assert len({event.id for event in events}) == 8
    assert events[0].details == {"name": "Shop Buddy"}
    assert events[1].details == {"version": 1}
    assert events[2].details == {"version": 1, "compiler_version": COMPILER_VERSION}
    assert events[4].details == {"before": {"name": "Shop Buddy"}, "after": {"name": "Renamed"}}
    assert events[5].details == {"before": {"status": "active"}, "after": {"status": "deactive"}}
    assert events[6].details == {"before": {"status": "deactive"}, "after": {"status": "active"}}
    assert events[7].details == {"before": {"status": "active"}, "after": {"status": "delete"}}


async def test_an_update_names_before_and_after_of_exactly_the_fields_it_changed(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", description="old"))

    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name="Shop Buddy", description="new"))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name="Shop Pal", clear_description=True))

    assert [e.details for e in (await agents_trail(deps, acme.owner))[1:]] == [
        {"before": {"description": "old"}, "after": {"description": "new"}},
        {"before": {"name": "Shop Buddy", "description": "new"}, "after": {"name": "Shop Pal", "description": None}},
    ]


async def test_a_status_change_is_audited_as_itself_whichever_endpoint_made_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DEACTIVE, name="Off"))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DELETE))

    events = await agent_history(deps, acme.owner, agent.id)
    assert [e.action for e in events] == [Action.AGENT_DELETE, Action.AGENT_DEACTIVATE, Action.AGENT_CREATE]
    assert events[1].details == {
        "before": {"name": "Shop Buddy", "status": "active"},
        "after": {"name": "Off", "status": "deactive"},
    }
    assert events[0].details == {"before": {"status": "deactive"}, "after": {"status": "delete"}}


async def test_a_label_move_names_both_versions_so_a_rollback_reads_as_one(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    v1, v2 = await compiled_versions(deps, acme, agent, 2)
    for version in (v1, v2, v1):  # live, promoted, rolled back
        await move_label_to(deps, acme.admin, MoveLabel(agent_id=agent.id, name="production", blueprint_id=version.id))

    moves = await whole_trail(deps, acme.owner, action="label.move")

    assert [(e.actor, e.target_id, e.agent_id) for e in moves] == [("acme-admin", agent.id, agent.id)] * 3
    assert moves[-1].details == {
        "label": "production", "blueprint_id": str(v1.id), "version": 1, "previous_blueprint_id": str(v2.id),
        "previous_version": 2,
    }  # fmt: skip
    assert moves[0].details["previous_blueprint_id"] is None


async def test_creating_with_a_blueprint_writes_two_events(deps: Deps) -> None:
    acme = await team(deps, "acme")

    made = await create_agent_with_blueprint(
        deps, acme.member, CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=shop_buddy())
    )

    assert await trail(deps, acme.owner) == [
        (Action.AGENT_CREATE, made.agent.id, "acme-member"),
        (Action.BLUEPRINT_CREATE, made.blueprint.id, "acme-member"),
    ]
    assert [e.agent_id for e in await agents_trail(deps, acme.owner)] == [made.agent.id] * 2


async def test_a_failed_compile_is_recorded_with_its_event_although_it_raises(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(
        deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=missing_identity_name())
    )

    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))

    assert (await trail(deps, acme.owner))[-1] == (Action.BLUEPRINT_COMPILE_FAILED, version.id, "acme-admin")
    assert Action.LABEL_MOVE not in [action for action, _, _ in await trail(deps, acme.owner)]


async def test_compile_with_activate_writes_a_compile_and_a_move_of_production(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))

    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))

    assert (await trail(deps, acme.owner))[-2:] == [
        (Action.BLUEPRINT_COMPILE, version.id, "acme-admin"),
        (Action.LABEL_MOVE, agent.id, "acme-admin"),
    ]
    assert (await agents_trail(deps, acme.owner))[-1].details == {
        "label": "production", "blueprint_id": str(version.id), "version": 1, "previous_blueprint_id": None,
        "previous_version": None,
    }  # fmt: skip


async def test_what_changes_nothing_writes_no_event(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", description="d"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    before = await trail(deps, acme.owner)

    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, name=" Shop Buddy ", description="d"))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DEACTIVE))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id))
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=version.id))
    await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))
    await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))

    assert await trail(deps, acme.owner) == [*before, (Action.AGENT_DELETE, agent.id, "acme-owner")]


async def test_use_cases_refused_up_front_write_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    drafted = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    gone = await create_agent(deps, acme.member, CreateAgent(name="Gone"))
    await delete_agent(deps, acme.owner, SetStatus(agent_id=gone.id))
    before = await trail(deps, acme.owner)

    with pytest.raises(InvalidAgent):
        await create_agent(deps, acme.member, CreateAgent(name=" "))
    with pytest.raises(InvalidBlueprint):
        await create_agent_with_blueprint(deps, acme.member, CreateAgentWithBlueprint(name="n", agent_blueprint=[]))
    with pytest.raises(RoleTooLow):
        await update_agent(deps, acme.member, UpdateAgent(agent_id=agent.id, name="x"))
    with pytest.raises(RoleTooLow):
        await compile_version(deps, acme.member, CompileVersion(agent_id=agent.id, version_id=drafted.id))
    with pytest.raises(VersionNotCompiled):
        await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=drafted.id))
    with pytest.raises(AgentDeleted):
        await add_version(deps, acme.member, AddVersion(agent_id=gone.id, agent_blueprint={}))
    with pytest.raises(AgentDeleted):
        await activate_agent(deps, acme.owner, SetStatus(agent_id=gone.id))

    assert await trail(deps, acme.owner) == before


# -- a fault in the middle of a use case ------------------------------------------------------------------------


async def test_a_fault_after_the_agent_is_written_leaves_neither_agent_nor_event(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(IdSourceDown):  # id 1 is the agent's, id 2 its audit event's
        await create_agent(failing_on(deps, 2), acme.member, CreateAgent(name="Shop Buddy"))

    assert (await list_agents(deps, acme.member, ListAgents())).items == []
    assert await trail(deps, acme.owner) == []
    assert (await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))).name == "Shop Buddy"


@pytest.mark.parametrize("call", [3, 4])
async def test_a_fault_while_creating_with_a_blueprint_leaves_nothing(deps: Deps, call: int) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(IdSourceDown):  # ids 1 and 2: agent and version; 3 and 4: their audit events
        await create_agent_with_blueprint(
            failing_on(deps, call), acme.member, CreateAgentWithBlueprint(name="n", agent_blueprint=shop_buddy())
        )

    assert (await list_agents(deps, acme.member, ListAgents())).items == []
    assert (await get_compilation_stats(deps, acme.member, GetCompilationStats())).total_blueprints == 0
    assert await trail(deps, acme.owner) == []


async def test_a_fault_after_a_version_is_written_leaves_no_version_and_keeps_its_number_free(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    before = await trail(deps, acme.owner)

    with pytest.raises(IdSourceDown):
        await add_version(failing_on(deps, 2), acme.member, AddVersion(agent_id=agent.id, agent_blueprint={}))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).latest_blueprint is None
    assert await trail(deps, acme.owner) == before
    assert (await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint={}))).version == 1


async def test_a_fault_while_activating_after_a_compile_undoes_the_compile_too(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    before = await trail(deps, acme.owner)

    with pytest.raises(IdSourceDown):  # id 1: the compile event; id 2: the activation event
        await compile_version(
            failing_on(deps, 2), acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True)
        )

    assert (
        await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    ).compilation_status is CompilationStatus.DRAFT
    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent.current_blueprint_id is None
    assert await trail(deps, acme.owner) == before


async def test_a_fault_while_updating_leaves_the_agent_as_it_was(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    with pytest.raises(IdSourceDown):
        await update_agent(failing_on(deps, 1), acme.admin, UpdateAgent(agent_id=agent.id, name="Renamed"))
    with pytest.raises(IdSourceDown):
        await delete_agent(failing_on(deps, 1), acme.admin, SetStatus(agent_id=agent.id))

    assert (await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))).agent == agent
    assert [action for action, _, _ in await trail(deps, acme.owner)] == [Action.AGENT_CREATE]


# -- reading: order, filters, pages ---------------------------------------------------------------------------------


class Story(Team, frozen=True, kw_only=True):
    """acme's day, one event a second from T0 + 1 s: `shop` created, versions 1 and 2 compiled, production on 1 then
    2 then back on 1, `other` created and renamed, `shop` renamed; a token revoked last."""

    shop: Agent
    other: Agent
    v1: BlueprintVersion
    v2: BlueprintVersion


async def story(deps: Deps) -> Story:
    acme = await team(deps, "acme")  # three token.create events at T0
    clock = clock_of(deps)
    clock.advance()
    shop = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    versions = []
    for _ in range(2):
        clock.advance()
        versions.append(
            await add_version(deps, acme.member, AddVersion(agent_id=shop.id, agent_blueprint=shop_buddy()))
        )
        clock.advance()
        await compile_version(deps, acme.admin, CompileVersion(agent_id=shop.id, version_id=versions[-1].id))
    v1, v2 = versions
    for who, version in ((acme.owner, v1), (acme.owner, v2), (acme.admin, v1)):
        clock.advance()
        await move_label_to(deps, who, MoveLabel(agent_id=shop.id, name="production", blueprint_id=version.id))
    clock.advance()
    other = await create_agent(deps, acme.admin, CreateAgent(name="Other"))
    clock.advance()
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=other.id, name="Other Buddy"))
    clock.advance()
    await update_agent(deps, acme.owner, UpdateAgent(agent_id=shop.id, name="Shop Pal"))
    clock.advance()
    assert acme.member.token_id is not None
    await revoke_token(deps, RevokeToken(token_id=acme.member.token_id))
    return Story(owner=acme.owner, admin=acme.admin, member=acme.member, shop=shop, other=other, v1=v1, v2=v2)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_the_trail_is_newest_first_and_events_of_one_instant_follow_their_ids(deps: Deps) -> None:
    s = await story(deps)

    page = await list_audit_events(deps, s.owner, ListAuditEvents(limit=MAX_LIMIT))

    assert page.next_cursor is None
    assert [e.action for e in page.items][:2] == [Action.TOKEN_REVOKE, Action.AGENT_UPDATE]
    assert [e.action for e in page.items][-3:] == [Action.TOKEN_CREATE] * 3
    keys = [(e.occurred_at, e.id) for e in page.items]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys) == 3 + 1 + 4 + 3 + 2 + 1 + 1
    assert [e.occurred_at for e in page.items[-3:]] == [T0] * 3  # one instant: ordered by id


async def test_an_agents_trail_holds_its_own_its_versions_and_its_labels_events_only(deps: Deps) -> None:
    s = await story(deps)

    history = await agent_history(deps, s.member, s.shop.id)

    assert summary(history) == [
        (Action.AGENT_UPDATE, s.shop.id, "acme-owner"),
        (Action.LABEL_MOVE, s.shop.id, "acme-admin"),
        (Action.LABEL_MOVE, s.shop.id, "acme-owner"),
        (Action.LABEL_MOVE, s.shop.id, "acme-owner"),
        (Action.BLUEPRINT_COMPILE, s.v2.id, "acme-admin"),
        (Action.BLUEPRINT_CREATE, s.v2.id, "acme-member"),
        (Action.BLUEPRINT_COMPILE, s.v1.id, "acme-admin"),
        (Action.BLUEPRINT_CREATE, s.v1.id, "acme-member"),
        (Action.AGENT_CREATE, s.shop.id, "acme-member"),
    ]
    assert await whole_trail(deps, s.owner, agent_id=s.shop.id) == history[::-1]
    assert summary(await agent_history(deps, s.member, s.other.id)) == [
        (Action.AGENT_UPDATE, s.other.id, "acme-admin"),
        (Action.AGENT_CREATE, s.other.id, "acme-admin"),
    ]


async def test_token_events_are_in_the_organizations_trail_under_no_agent(deps: Deps) -> None:
    s = await story(deps)

    tokens = [e for e in await whole_trail(deps, s.owner) if e.agent_id is None]

    assert [(e.action, e.actor) for e in tokens] == [(Action.TOKEN_CREATE, OPERATOR)] * 3 + [
        (Action.TOKEN_REVOKE, OPERATOR)
    ]
    assert tokens[-1].target_id == s.member.token_id
    assert await whole_trail(deps, s.owner, action="token.revoke") == tokens[-1:]


async def test_each_filter_selects_exactly_its_events_and_together_they_all_hold(deps: Deps) -> None:
    s = await story(deps)
    everything = await whole_trail(deps, s.owner)

    def where(keep: Any) -> list[AuditEvent]:
        return [e for e in everything if keep(e)]

    by_action = await whole_trail(deps, s.owner, action="label.move")
    by_actor = await whole_trail(deps, s.owner, actor="acme-admin")
    by_agent = await whole_trail(deps, s.owner, agent_id=s.other.id)
    by_time = await whole_trail(deps, s.owner, since=at(3), until=at(6))
    together = await whole_trail(deps, s.owner, agent_id=s.shop.id, action="label.move", actor="acme-owner",
                                 since=at(6), until=at(8))  # fmt: skip

    assert by_action == where(lambda e: e.action is Action.LABEL_MOVE)
    assert len(by_action) == 3
    assert by_actor == where(lambda e: e.actor == "acme-admin")
    assert len(by_actor) == 5
    assert by_agent == where(lambda e: e.agent_id == s.other.id)
    assert len(by_agent) == 2
    assert [e.occurred_at for e in by_time] == [at(3), at(4), at(5)]  # since inclusive, until exclusive
    assert [(e.actor, e.details["version"]) for e in together] == [("acme-owner", 1), ("acme-owner", 2)]
    assert await whole_trail(deps, s.owner, actor="acme-ghost") == []
    assert await whole_trail(deps, s.owner, actor="ACME-ADMIN") == []  # exactly, as user ids are compared
    assert await whole_trail(deps, s.owner, agent_id=s.v1.id) == []  # a version is not an agent
    assert await whole_trail(deps, s.owner, since=at(4), until=at(4)) == []
    assert await whole_trail(deps, s.owner, action="agent.import") == []


async def test_the_time_range_compares_instants_whatever_the_offset_they_are_written_in(deps: Deps) -> None:
    s = await story(deps)
    plus_two = timezone(timedelta(hours=2))

    shifted = await whole_trail(deps, s.owner, since=at(3).astimezone(plus_two), until=at(6).astimezone(plus_two))

    assert shifted == await whole_trail(deps, s.owner, since=at(3), until=at(6))
    assert len(shifted) == 3
    assert await whole_trail(deps, s.owner, until=datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-1)))) == (
        await whole_trail(deps, s.owner)
    )  # 13:00 UTC: after everything
    assert await whole_trail(deps, s.owner, since=datetime(2026, 1, 1, 13, tzinfo=UTC)) == []


async def test_pages_of_every_size_and_filter_add_up_to_the_whole_list(deps: Deps) -> None:
    s = await story(deps)

    for filters in ({}, {"action": "label.move"}, {"actor": "acme-admin"}, {"agent_id": s.shop.id},
                    {"since": at(2), "until": at(9)}, {"agent_id": s.shop.id, "since": at(7)}):  # fmt: skip
        everything = await whole_trail(deps, s.owner, **filters)
        for limit in (1, 2, 5):
            read: list[AuditEvent] = []
            cursor = None
            while True:
                page = await list_audit_events(deps, s.owner, ListAuditEvents(limit=limit, cursor=cursor, **filters))
                assert 1 <= len(page.items) <= limit or (page.items == [] and everything == [])
                read.extend(page.items)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert read == everything[::-1], (filters, limit)


async def test_a_page_ending_on_the_last_event_says_there_is_no_next_page(deps: Deps) -> None:
    s = await story(deps)
    count = len(await whole_trail(deps, s.owner, agent_id=s.shop.id))

    exact = await list_agent_audit_events(deps, s.member, ListAgentAuditEvents(agent_id=s.shop.id, limit=count))
    short = await list_agent_audit_events(deps, s.member, ListAgentAuditEvents(agent_id=s.shop.id, limit=count - 1))

    assert (len(exact.items), exact.next_cursor) == (count, None)
    assert len(short.items) == count - 1
    assert short.next_cursor is not None
    rest = await list_agent_audit_events(
        deps, s.member, ListAgentAuditEvents(agent_id=s.shop.id, cursor=short.next_cursor)
    )
    assert [*short.items, *rest.items] == exact.items
    assert rest.next_cursor is None


async def test_pages_stay_stable_while_events_are_written_at_the_same_instant_and_later(deps: Deps) -> None:
    s = await story(deps)
    before = (await whole_trail(deps, s.owner))[::-1]  # newest first, as pages are read
    clock = clock_of(deps)

    read: list[AuditEvent] = []
    cursor = None
    for n in range(100):
        page = await list_audit_events(deps, s.owner, ListAuditEvents(limit=3, cursor=cursor))
        read.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # Between two pages: an event at the instant of the newest one (a larger id), and one later.
        await update_agent(deps, s.admin, UpdateAgent(agent_id=s.other.id, name=f"now {n}"))
        clock.advance()
        await update_agent(deps, s.admin, UpdateAgent(agent_id=s.other.id, name=f"later {n}"))

    assert read == before
    after = await whole_trail(deps, s.owner)
    assert len(after) == len(before) + 2 * (len(before) // 3 + (len(before) % 3 > 0) - 1)


async def test_a_deleted_agents_history_stays_readable(deps: Deps) -> None:
    s = await story(deps)
    await delete_agent(deps, s.owner, SetStatus(agent_id=s.other.id))

    history = await agent_history(deps, s.member, s.other.id)

    assert [e.action for e in history] == [Action.AGENT_DELETE, Action.AGENT_UPDATE, Action.AGENT_CREATE]


# -- who reads the trail -----------------------------------------------------------------------------------------


async def test_only_owners_and_admins_read_the_organizations_trail_and_anyone_an_agents(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    with pytest.raises(RoleTooLow):
        await list_audit_events(deps, acme.member, ListAuditEvents())
    with pytest.raises(RoleTooLow):
        await list_audit_events(deps, acme.member, ListAuditEvents(agent_id=agent.id))
    assert (
        await trail(deps, acme.owner)
        == await trail(deps, acme.admin)
        == [(Action.AGENT_CREATE, agent.id, "acme-member")]
    )
    assert summary(await agent_history(deps, acme.member, agent.id)) == [(Action.AGENT_CREATE, agent.id, "acme-member")]


async def test_another_organizations_trail_shows_nothing_and_its_agents_do_not_exist(deps: Deps) -> None:
    s = await story(deps)
    globex = await team(deps, "globex")
    own = await create_agent(deps, globex.member, CreateAgent(name="Globex Buddy"))
    acme_actions = {e.action for e in await whole_trail(deps, s.owner)}

    seen = await whole_trail(deps, globex.owner)

    assert {e.org_id for e in seen} == {globex.owner.org_id}
    assert [e.target_id for e in seen if e.agent_id is not None] == [own.id]
    for filters in ({"agent_id": s.shop.id}, {"actor": "acme-owner"}, {"action": "label.move"}):
        assert await whole_trail(deps, globex.owner, **filters) == [], filters
    assert Action.LABEL_MOVE in acme_actions
    for who in (globex.owner, globex.member):
        for agent_id in (s.shop.id, s.other.id):
            with pytest.raises(AgentNotFound):
                await list_agent_audit_events(deps, who, ListAgentAuditEvents(agent_id=agent_id))
    assert await whole_trail(deps, s.owner, actor="globex-member") == []


async def test_a_protected_label_and_its_events_belong_to_the_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    [v1] = await compiled_versions(deps, acme, agent, 1)
    await move_label_to(deps, acme.member, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=v1.id))
    await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name="staging", protected=True))

    [protected, moved, *_] = await agent_history(deps, acme.member, agent.id)

    assert (protected.action, protected.details) == (Action.LABEL_PROTECT, {"label": "staging", "protected": True})
    assert (moved.action, moved.actor, moved.details["label"]) == (Action.LABEL_MOVE, "acme-member", "staging")
