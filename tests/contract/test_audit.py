"""The audit trail: one event per change, in the change's transaction; a failed use case leaves neither behind."""

import dataclasses
from datetime import timedelta
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
from application.audit import ListAuditEvents, list_audit_events
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
from application.ports import IdSource
from domain.agents import AgentStatus
from domain.audit import Action, AuditEvent
from domain.blueprints import CompilationStatus
from domain.errors import AgentDeleted, InvalidAgent, InvalidBlueprint, RoleTooLow, VersionNotCompiled
from domain.roles import Principal
from tests.doubles import T0
from tests.samples import clock_of, missing_identity_name, shop_buddy, team

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


def summary(events: list[AuditEvent]) -> list[tuple[Action, UUID, str]]:
    return [(event.action, event.target_id, event.actor) for event in events]


async def trail(deps: Deps, who: Principal) -> list[tuple[Action, UUID, str]]:
    return summary(await list_audit_events(deps, who, ListAuditEvents()))


async def test_every_change_writes_one_event_naming_actor_action_target_and_time(deps: Deps) -> None:
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

    events = await list_audit_events(deps, acme.owner, ListAuditEvents())

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
    assert [event.occurred_at for event in events] == [T0 + timedelta(seconds=i) for i in range(8)]
    assert {event.org_id for event in events} == {acme.owner.org_id}
    assert len({event.id for event in events}) == 8
    assert events[0].details == {"name": "Shop Buddy"}
    assert events[1].details == {"agent_id": str(agent.id), "version": 1}
    assert events[4].details == {"name": "Renamed"}


async def test_a_status_change_is_audited_as_itself_whichever_endpoint_made_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DEACTIVE, name="Off"))
    await update_agent(deps, acme.admin, UpdateAgent(agent_id=agent.id, status=AgentStatus.DELETE))

    events = await list_audit_events(deps, acme.owner, ListAuditEvents(target_id=agent.id))
    assert [e.action for e in events] == [Action.AGENT_CREATE, Action.AGENT_DEACTIVATE, Action.AGENT_DELETE]
    assert events[1].details == {"name": "Off", "status": "deactive"}


async def test_the_trail_of_one_target_holds_only_its_events(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    of_agent = await list_audit_events(deps, acme.admin, ListAuditEvents(target_id=agent.id))
    of_version = await list_audit_events(deps, acme.admin, ListAuditEvents(target_id=version.id))

    # A label is the agent's: its moves (activation is production's) are in the agent's trail.
    assert [e.action for e in of_agent] == [Action.AGENT_CREATE, Action.LABEL_MOVE, Action.AGENT_DEACTIVATE]
    assert [e.action for e in of_version] == [Action.BLUEPRINT_CREATE, Action.BLUEPRINT_COMPILE]


async def test_creating_with_a_blueprint_writes_two_events(deps: Deps) -> None:
    acme = await team(deps, "acme")

    made = await create_agent_with_blueprint(
        deps, acme.member, CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=shop_buddy())
    )

    assert await trail(deps, acme.owner) == [
        (Action.AGENT_CREATE, made.agent.id, "acme-member"),
        (Action.BLUEPRINT_CREATE, made.blueprint.id, "acme-member"),
    ]


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
    assert (await list_audit_events(deps, acme.owner, ListAuditEvents()))[-1].details == {
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


# -- who reads the trail -----------------------------------------------------------------------------------------


async def test_only_owners_and_admins_read_the_trail(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    with pytest.raises(RoleTooLow):
        await list_audit_events(deps, acme.member, ListAuditEvents())
    with pytest.raises(RoleTooLow):
        await list_audit_events(deps, acme.member, ListAuditEvents(target_id=agent.id))
    assert (
        await trail(deps, acme.owner)
        == await trail(deps, acme.admin)
        == [(Action.AGENT_CREATE, agent.id, "acme-member")]
    )
