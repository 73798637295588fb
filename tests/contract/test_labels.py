"""Release labels through the use cases: list, read, move (promote, roll back), protect, delete, history, the audit
trail of every change, serving a prompt by label and watching a label for its next move."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Final
from uuid import UUID

import msgspec
import pytest

from application.agents import (
    CreateAgent,
    GetAgent,
    SetStatus,
    activate_agent,
    create_agent,
    deactivate_agent,
    delete_agent,
    get_agent,
)
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetLivePrompt,
    WatchLivePrompt,
    activate_version,
    add_version,
    compile_version,
    get_live_prompt,
    watch_live_prompt,
)
from application.deps import Deps
from application.labels import (
    DeleteLabel,
    GetLabel,
    LabelHistory,
    ListLabels,
    MoveLabel,
    ProtectLabel,
    delete_label,
    get_label,
    label_history,
    list_labels,
    move_label,
    move_label_to,
    protect_label,
)
from domain.agents import Agent
from domain.audit import Action, AuditEvent
from domain.blueprints import BlueprintVersion, CompilationStatus, LivePrompt
from domain.errors import (
    AgentDeleted,
    AgentNotFound,
    BlueprintNotFound,
    InvalidBlueprint,
    InvalidLabel,
    LabelChanged,
    LabelNotFound,
    Malformed,
    NoLivePrompt,
    ProductionAlwaysProtected,
    ProductionUndeletable,
    RoleTooLow,
    VersionNotCompiled,
)
from domain.labels import Label, LabelMove
from domain.roles import Principal
from tests.contract.test_audit import IdSourceDown, agents_trail, failing_on, whole_trail
from tests.doubles import T0
from tests.samples import Team, clock_of, missing_identity_name, shop_buddy, team

pytestmark = pytest.mark.anyio

UNKNOWN: Final = UUID(int=2**100)
DEADLINE_S: Final = 5.0  # a watch that should answer at once must answer well within this


async def agent_of(deps: Deps, acme: Team, name: str = "Shop Buddy") -> Agent:
    return await create_agent(deps, acme.member, CreateAgent(name=name))


async def draft(deps: Deps, acme: Team, agent: Agent, doc: object | None = None) -> BlueprintVersion:
    document = shop_buddy() if doc is None else doc
    return await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=document))


async def compiled(deps: Deps, acme: Team, agent: Agent, name: str = "Shop Buddy") -> BlueprintVersion:
    version = await draft(deps, acme, agent, shop_buddy(name))
    return (await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))).blueprint


async def failed(deps: Deps, acme: Team, agent: Agent) -> BlueprintVersion:
    version = await draft(deps, acme, agent, missing_identity_name())
    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    return version


async def agent_with_versions(deps: Deps, acme: Team, count: int = 2) -> tuple[Agent, list[BlueprintVersion]]:
    agent = await agent_of(deps, acme)
    return agent, [await compiled(deps, acme, agent, f"v{n}") for n in range(1, count + 1)]


async def move(
    deps: Deps, who: Principal, agent: Agent, name: str, version: BlueprintVersion, if_match: set[str] | None = None
) -> Label:
    cmd = MoveLabel(
        agent_id=agent.id,
        name=name,
        blueprint_id=version.id,
        if_match=None if if_match is None else frozenset(if_match),
    )
    return await move_label_to(deps, who, cmd)


async def label(deps: Deps, who: Principal, agent: Agent, name: str) -> Label:
    return await get_label(deps, who, GetLabel(agent_id=agent.id, name=name))


async def history(deps: Deps, who: Principal, agent: Agent, name: str, limit: int = 100) -> list[LabelMove]:
    page = await label_history(deps, who, LabelHistory(agent_id=agent.id, name=name, limit=limit))
    assert page.next_cursor is None
    return page.items


async def events(deps: Deps, acme: Team) -> list[AuditEvent]:
    return await whole_trail(deps, acme.owner)


async def label_events(deps: Deps, acme: Team) -> list[AuditEvent]:
    labels = {Action.LABEL_MOVE, Action.LABEL_DELETE, Action.LABEL_PROTECT}
    return [event for event in await events(deps, acme) if event.action in labels]


async def served(deps: Deps, who: Principal, agent: Agent, name: str) -> LivePrompt:
    return await get_live_prompt(deps, who, GetLivePrompt(agent_id=agent.id, label=name))


async def active_id(deps: Deps, who: Principal, agent: Agent) -> UUID | None:
    return (await get_agent(deps, who, GetAgent(agent_id=agent.id))).agent.current_blueprint_id


# -- list and read -----------------------------------------------------------------------------------------------


async def test_an_agent_with_nothing_compiled_has_no_labels(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    await draft(deps, acme, agent)

    assert await list_labels(deps, acme.member, ListLabels(agent_id=agent.id)) == []
    for name in ("production", "latest", "staging"):
        with pytest.raises(LabelNotFound):
            await label(deps, acme.member, agent, name)


async def test_latest_is_the_newest_compiled_version_read_only_before_anything_is_live(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [_, v2] = await agent_with_versions(deps, acme)
    await draft(deps, acme, agent)
    await failed(deps, acme, agent)

    [latest] = await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))

    assert latest == Label(
        agent_id=agent.id,
        name="latest",
        blueprint_id=v2.id,
        version=2,
        protected=True,
        moved_at=v2.compiled_at,
        moved_by="acme-admin",
        read_only=True,
    )
    assert await label(deps, acme.member, agent, "latest") == latest


async def test_the_list_holds_production_then_latest_then_the_others_by_name(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2, v3] = await agent_with_versions(deps, acme, 3)
    clock = clock_of(deps)
    activated_at = clock.advance()
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=v1.id))
    staged_at = clock.advance()
    await move(deps, acme.member, agent, "staging", v2)
    await move(deps, acme.admin, agent, "canary", v1)
    await move(deps, acme.member, agent, "0-first", v3)

    labels = await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))

    assert [(x.name, x.blueprint_id, x.version) for x in labels] == [
        ("production", v1.id, 1),
        ("latest", v3.id, 3),
        ("0-first", v3.id, 3),
        ("canary", v1.id, 1),
        ("staging", v2.id, 2),
    ]
    production, latest, *stored = labels
    assert (production.protected, production.read_only, production.moved_at, production.moved_by) == (
        True,
        False,
        activated_at,
        "acme-owner",
    )
    assert (latest.read_only, latest.moved_by) == (True, "acme-admin")
    assert [(x.protected, x.read_only, x.moved_at) for x in stored] == [(False, False, staged_at)] * 3
    assert [x.moved_by for x in stored] == ["acme-member", "acme-admin", "acme-member"]
    for each in labels:
        assert await label(deps, acme.member, agent, each.name) == each


async def test_labels_are_listed_by_name_character_by_character_whatever_the_databases_collation(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    names = ["ab", "a-c", "a.b", "a_b", "a0", "b", "a-b", "aa", "a9.z"]
    for name in names:
        await move(deps, acme.member, agent, name, v1)

    labels = await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))

    assert [x.name for x in labels] == ["latest", *sorted(names)]


# -- move, roll back -----------------------------------------------------------------------------------------------


async def test_a_first_move_creates_the_label_and_the_next_moves_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)

    created = await move(deps, acme.member, agent, "staging", v1)
    later = clock_of(deps).advance()
    moved = await move(deps, acme.admin, agent, "staging", v2)

    assert created == Label(
        agent_id=agent.id,
        name="staging",
        blueprint_id=v1.id,
        version=1,
        protected=False,
        moved_at=T0,
        moved_by="acme-member",
    )
    assert moved == Label(
        agent_id=agent.id,
        name="staging",
        blueprint_id=v2.id,
        version=2,
        protected=False,
        moved_at=later,
        moved_by="acme-admin",
    )
    assert await label(deps, acme.member, agent, "staging") == moved
    assert await active_id(deps, acme.member, agent) is None  # production did not move


async def test_moving_a_label_back_is_the_rollback(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await move(deps, acme.member, agent, "staging", v2)
    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v2.id

    back = await move(deps, acme.member, agent, "staging", v1)

    assert (back.blueprint_id, back.version) == (v1.id, 1)
    live = await served(deps, acme.member, agent, "staging")
    assert (live.blueprint_id, live.compiled_system_prompt) == (v1.id, v1.compiled_system_prompt)
    assert [(m.blueprint_id, m.previous_blueprint_id) for m in await history(deps, acme.member, agent, "staging")] == [
        (v1.id, v2.id),
        (v2.id, v1.id),
        (v1.id, None),
    ]


@pytest.mark.parametrize("name", ["staging", "production"])
async def test_moving_a_label_to_the_version_it_names_changes_and_records_nothing(deps: Deps, name: str) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    first = await move(deps, acme.owner, agent, name, v1)
    before = await events(deps, acme)
    clock_of(deps).advance()

    again = await move(deps, acme.owner, agent, name, v1)

    assert again == first == await label(deps, acme.member, agent, name)
    assert len(await history(deps, acme.member, agent, name)) == 1
    assert await events(deps, acme) == before


async def test_a_draft_or_failed_version_cannot_be_labelled(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    drafted, broken = await draft(deps, acme, agent), await failed(deps, acme, agent)
    before = await events(deps, acme)

    for version, status in [(drafted, "draft"), (broken, "failed")]:
        for name in ("staging", "canary", "production"):
            with pytest.raises(VersionNotCompiled) as raised:
                await move(deps, acme.owner, agent, name, version)
            assert raised.value.extra() == {"compilation_status": status}

    assert [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))] == [
        "latest",
        "staging",
    ]
    assert (await label(deps, acme.member, agent, "staging")).blueprint_id == v1.id
    assert await events(deps, acme) == before


async def test_a_version_of_another_agent_or_no_version_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    one, two = await agent_of(deps, acme, "one"), await agent_of(deps, acme, "two")
    of_one = await compiled(deps, acme, one)

    with pytest.raises(BlueprintNotFound):
        await move(deps, acme.owner, two, "staging", of_one)
    with pytest.raises(BlueprintNotFound):
        await move_label_to(deps, acme.owner, MoveLabel(agent_id=one.id, name="staging", blueprint_id=UNKNOWN))

    assert await list_labels(deps, acme.member, ListLabels(agent_id=two.id)) == []
    assert [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=one.id))] == ["latest"]


async def test_an_unknown_agent_is_not_found_for_every_label_use_case(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for step in label_use_cases(deps, acme.owner, UNKNOWN, UNKNOWN):
        with pytest.raises(AgentNotFound):
            await step()


async def test_a_deleted_agent_refuses_moves_deletions_and_protection_but_stays_readable(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=v1.id))
    await move(deps, acme.member, agent, "staging", v1)
    await delete_agent(deps, acme.owner, SetStatus(agent_id=agent.id))
    before = await events(deps, acme)

    for name in ("staging", "canary", "production"):
        with pytest.raises(AgentDeleted):
            await move(deps, acme.owner, agent, name, v2)
    with pytest.raises(AgentDeleted):
        await move(deps, acme.member, agent, "staging", v2)  # unprotected: the member passes, the agent refuses
    for name in ("staging", "production"):
        with pytest.raises(AgentDeleted):
            await delete_label(deps, acme.owner, DeleteLabel(agent_id=agent.id, name=name))
        for protected in (True, False):
            with pytest.raises(AgentDeleted):
                await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name=name, protected=protected))

    assert await events(deps, acme) == before
    assert [(x.name, x.blueprint_id) for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))] == [
        ("production", v1.id),
        ("latest", v2.id),
        ("staging", v1.id),
    ]
    assert len(await history(deps, acme.member, agent, "staging")) == 1


async def test_a_switched_off_agent_may_move_its_labels(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    assert (await move(deps, acme.member, agent, "staging", v1)).blueprint_id == v1.id
    assert (await move(deps, acme.admin, agent, "production", v1)).blueprint_id == v1.id


# -- production --------------------------------------------------------------------------------------------------


async def test_moving_production_makes_the_version_active(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    later = clock_of(deps).advance()

    moved = await move(deps, acme.admin, agent, "production", v2)

    assert moved == Label(
        agent_id=agent.id,
        name="production",
        blueprint_id=v2.id,
        version=2,
        protected=True,
        moved_at=later,
        moved_by="acme-admin",
    )
    detail = await get_agent(deps, acme.member, GetAgent(agent_id=agent.id))
    assert (detail.agent.current_blueprint_id, detail.agent.updated_at) == (v2.id, later)
    assert (await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id))).blueprint_id == v2.id
    assert await label(deps, acme.member, agent, "production") == moved

    await move(deps, acme.owner, agent, "production", v1)
    assert await active_id(deps, acme.member, agent) == v1.id


async def test_activating_and_compiling_with_activate_are_moves_of_production(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1] = await agent_with_versions(deps, acme, 1)
    clock = clock_of(deps)
    at_1 = clock.advance()
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=v1.id))
    v2 = await draft(deps, acme, agent)
    at_2 = clock.advance()
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v2.id, activate=True))
    at_3 = clock.advance()
    await move(deps, acme.admin, agent, "production", v1)

    assert await history(deps, acme.member, agent, "production") == [
        LabelMove(
            agent_id=agent.id,
            name="production",
            seq=3,
            blueprint_id=v1.id,
            version=1,
            previous_blueprint_id=v2.id,
            previous_version=2,
            moved_by="acme-admin",
            moved_at=at_3,
        ),
        LabelMove(
            agent_id=agent.id,
            name="production",
            seq=2,
            blueprint_id=v2.id,
            version=2,
            previous_blueprint_id=v1.id,
            previous_version=1,
            moved_by="acme-admin",
            moved_at=at_2,
        ),
        LabelMove(
            agent_id=agent.id,
            name="production",
            seq=1,
            blueprint_id=v1.id,
            version=1,
            previous_blueprint_id=None,
            previous_version=None,
            moved_by="acme-owner",
            moved_at=at_1,
        ),
    ]
    assert [e.action for e in await label_events(deps, acme)] == [Action.LABEL_MOVE] * 3


async def test_production_set_outside_the_service_has_no_mover_and_its_next_move_records_what_it_replaced(
    deps: Deps,
) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=v1.id))
    async with deps.uow() as uow:  # as an UPDATE from psql, or an import, writes it: no history, no event
        held = await uow.agents.get_for_update(acme.owner.org_id, agent.id)
        await uow.agents.update(msgspec.structs.replace(held, current_blueprint_id=v2.id))
        await uow.commit()
    deps.live.agent_changed(agent.id)  # what the change feed does for such an UPDATE

    production = await label(deps, acme.member, agent, "production")
    assert (production.blueprint_id, production.moved_at, production.moved_by) == (v2.id, None, None)
    assert (await served(deps, acme.member, agent, "production")).blueprint_id == v2.id

    await move(deps, acme.admin, agent, "production", v1)
    [last, first] = await history(deps, acme.member, agent, "production")
    assert (last.seq, last.blueprint_id, last.previous_blueprint_id, last.previous_version) == (2, v1.id, v2.id, 2)
    assert first.blueprint_id == v1.id
    assert (await label(deps, acme.member, agent, "production")).moved_by == "acme-admin"


async def test_production_cannot_be_deleted_nor_unprotected(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    production = await move(deps, acme.owner, agent, "production", v1)
    before = await events(deps, acme)

    for who in acme.everyone:
        with pytest.raises(ProductionUndeletable):
            await delete_label(deps, who, DeleteLabel(agent_id=agent.id, name="production"))
    with pytest.raises(ProductionAlwaysProtected):
        await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name="production", protected=False))
    again = await protect_label(deps, acme.admin, ProtectLabel(agent_id=agent.id, name="production", protected=True))

    assert again == production == await label(deps, acme.member, agent, "production")
    assert await events(deps, acme) == before


# -- compile with a label ------------------------------------------------------------------------------------------


async def test_compiling_with_a_label_moves_that_label_and_leaves_production_alone(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1] = await agent_with_versions(deps, acme, 1)
    await activate_version(deps, acme.owner, ActivateVersion(agent_id=agent.id, version_id=v1.id))
    v2 = await draft(deps, acme, agent)

    report = await compile_version(
        deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v2.id, label="staging")
    )

    assert (report.label, report.blueprint.compilation_status) == ("staging", CompilationStatus.COMPILED)
    assert "'staging' points at it" in report.message
    assert report.agent.current_blueprint_id == v1.id
    staging = await label(deps, acme.member, agent, "staging")
    assert (staging.blueprint_id, staging.moved_by) == (v2.id, "acme-admin")
    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v2.id
    assert (await served(deps, acme.member, agent, "production")).blueprint_id == v1.id
    assert [e.action for e in await events(deps, acme)][-2:] == [Action.BLUEPRINT_COMPILE, Action.LABEL_MOVE]


async def test_compiling_with_label_production_activates(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)
    v1 = await draft(deps, acme, agent)

    report = await compile_version(
        deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v1.id, label="production")
    )

    assert report.agent.current_blueprint_id == v1.id
    assert [m.blueprint_id for m in await history(deps, acme.member, agent, "production")] == [v1.id]


async def test_a_compile_that_fails_or_is_refused_moves_no_label(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1] = await agent_with_versions(deps, acme, 1)
    await move(deps, acme.member, agent, "staging", v1)
    broken = await draft(deps, acme, agent, missing_identity_name())
    other = await draft(deps, acme, agent)

    with pytest.raises(InvalidBlueprint):
        await compile_version(
            deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=broken.id, label="staging")
        )
    with pytest.raises(Malformed):
        await compile_version(
            deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=other.id, activate=True, label="staging")
        )
    for name in ("latest", "Staging"):
        with pytest.raises(InvalidLabel):
            await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=other.id, label=name))
    with pytest.raises(LabelChanged):
        await compile_version(
            deps,
            acme.admin,
            CompileVersion(agent_id=agent.id, version_id=other.id, label="staging", if_match=frozenset({str(UNKNOWN)})),
        )

    assert (await label(deps, acme.member, agent, "staging")).blueprint_id == v1.id
    assert len(await history(deps, acme.member, agent, "staging")) == 1


# -- protection --------------------------------------------------------------------------------------------------


async def test_any_role_moves_and_deletes_an_unprotected_label(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)

    for who, version in zip(acme.everyone, [v1, v2, v1], strict=True):
        assert (await move(deps, who, agent, "canary", version)).moved_by == who.user_id
    await delete_label(deps, acme.member, DeleteLabel(agent_id=agent.id, name="canary"))

    with pytest.raises(LabelNotFound):
        await label(deps, acme.member, agent, "canary")


async def test_only_owners_and_admins_protect_and_then_only_they_move_or_delete(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    with pytest.raises(RoleTooLow):
        await protect_label(deps, acme.member, ProtectLabel(agent_id=agent.id, name="staging", protected=True))

    protected = await protect_label(deps, acme.admin, ProtectLabel(agent_id=agent.id, name="staging", protected=True))
    before = await events(deps, acme)

    assert (protected.protected, protected.blueprint_id) == (True, v1.id)
    with pytest.raises(RoleTooLow):
        await move(deps, acme.member, agent, "staging", v2)
    with pytest.raises(RoleTooLow):
        await delete_label(deps, acme.member, DeleteLabel(agent_id=agent.id, name="staging"))
    with pytest.raises(RoleTooLow):
        await protect_label(deps, acme.member, ProtectLabel(agent_id=agent.id, name="staging", protected=False))
    assert await label(deps, acme.member, agent, "staging") == protected
    assert await events(deps, acme) == before

    assert (await move(deps, acme.owner, agent, "staging", v2)).protected  # a move keeps the protection
    await delete_label(deps, acme.admin, DeleteLabel(agent_id=agent.id, name="staging"))
    with pytest.raises(LabelNotFound):
        await label(deps, acme.member, agent, "staging")


async def test_a_member_may_not_move_production(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    with pytest.raises(RoleTooLow):
        await move(deps, acme.member, agent, "production", v1)  # not even its first move
    await move(deps, acme.owner, agent, "production", v1)
    before = await events(deps, acme)

    with pytest.raises(RoleTooLow):
        await move(deps, acme.member, agent, "production", v2)

    assert await active_id(deps, acme.member, agent) == v1.id
    assert await events(deps, acme) == before


async def test_unprotecting_lets_members_move_it_again_and_protecting_twice_records_once(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    for _ in range(2):
        await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name="staging", protected=True))
    for _ in range(2):
        unprotected = await protect_label(
            deps, acme.admin, ProtectLabel(agent_id=agent.id, name="staging", protected=False)
        )

    assert not unprotected.protected
    assert (await move(deps, acme.member, agent, "staging", v2)).blueprint_id == v2.id
    protects = [e for e in await label_events(deps, acme) if e.action is Action.LABEL_PROTECT]
    assert [(e.actor, e.details) for e in protects] == [
        ("acme-owner", {"label": "staging", "protected": True}),
        ("acme-admin", {"label": "staging", "protected": False}),
    ]
    assert len(await history(deps, acme.member, agent, "staging")) == 2  # protection is no move


async def test_protecting_a_label_that_does_not_exist_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await agent_of(deps, acme)

    for name in ("staging", "production"):
        with pytest.raises(LabelNotFound):
            await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name=name, protected=True))
    with pytest.raises(LabelNotFound):
        await delete_label(deps, acme.owner, DeleteLabel(agent_id=agent.id, name="staging"))


# -- names ---------------------------------------------------------------------------------------------------------


async def test_latest_cannot_be_moved_deleted_or_protected(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    latest = await label(deps, acme.member, agent, "latest")

    with pytest.raises(InvalidLabel):
        await move(deps, acme.owner, agent, "latest", v1)
    with pytest.raises(InvalidLabel):
        await delete_label(deps, acme.owner, DeleteLabel(agent_id=agent.id, name="latest"))
    with pytest.raises(InvalidLabel):
        await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name="latest", protected=False))

    assert await label(deps, acme.member, agent, "latest") == latest
    assert await label_events(deps, acme) == []


BAD_NAMES: Final = ["", "Staging", "-staging", ".staging", "_x", "a" * 37, "a b", "stagé", "a/b", "staging\n", "a:b"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_a_bad_label_name_is_refused_by_every_use_case(deps: Deps, name: str) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)

    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: move(deps, acme.owner, agent, name, v1),
        lambda: label(deps, acme.member, agent, name),
        lambda: delete_label(deps, acme.owner, DeleteLabel(agent_id=agent.id, name=name)),
        lambda: protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name=name, protected=True)),
        lambda: history(deps, acme.member, agent, name),
        lambda: served(deps, acme.member, agent, name),
    ]
    for step in steps:
        with pytest.raises(InvalidLabel):
            await step()
    assert [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))] == ["latest"]


@pytest.mark.parametrize("name", ["a", "0", "a" * 36, "v1.2_rc-3", "9lives"])
async def test_a_label_name_is_1_to_36_of_lowercase_letters_digits_dots_underscores_and_dashes(
    deps: Deps, name: str
) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)

    assert (await move(deps, acme.member, agent, name, v1)).name == name
    assert (await label(deps, acme.member, agent, name)).blueprint_id == v1.id


# -- If-Match ------------------------------------------------------------------------------------------------------


async def test_if_match_with_the_labels_version_moves_and_deletes_it(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    moved = await move(deps, acme.member, agent, "staging", v2, if_match={str(v1.id)})
    assert moved.blueprint_id == v2.id
    assert (await move(deps, acme.member, agent, "staging", v1, if_match={str(UNKNOWN), str(v2.id)})).version == 1
    assert (await move(deps, acme.member, agent, "staging", v2, if_match={"*"})).version == 2

    await delete_label(
        deps, acme.member, DeleteLabel(agent_id=agent.id, name="staging", if_match=frozenset({str(v2.id)}))
    )
    with pytest.raises(LabelNotFound):
        await label(deps, acme.member, agent, "staging")


async def test_if_match_with_another_version_is_refused_with_the_current_one(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await move(deps, acme.owner, agent, "production", v2)
    before = await events(deps, acme)

    with pytest.raises(LabelChanged) as on_move:
        await move(deps, acme.member, agent, "staging", v2, if_match={str(v2.id)})
    with pytest.raises(LabelChanged) as on_delete:
        await delete_label(
            deps, acme.member, DeleteLabel(agent_id=agent.id, name="staging", if_match=frozenset({str(v2.id)}))
        )
    with pytest.raises(LabelChanged) as on_production:
        await move(deps, acme.owner, agent, "production", v1, if_match={str(v1.id)})

    assert on_move.value.extra() == on_delete.value.extra() == {"etag": str(v1.id)}
    assert on_production.value.extra() == {"etag": str(v2.id)}
    assert (await label(deps, acme.member, agent, "staging")).blueprint_id == v1.id
    assert await active_id(deps, acme.member, agent) == v2.id
    assert await events(deps, acme) == before


async def test_if_match_on_a_label_that_does_not_exist_is_refused_with_no_etag(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)

    for name in ("staging", "production"):
        for tags in ({"*"}, {str(v1.id)}):
            with pytest.raises(LabelChanged) as raised:
                await move(deps, acme.owner, agent, name, v1, if_match=tags)
            assert raised.value.extra() == {"etag": None}

    assert [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))] == ["latest"]
    assert await label_events(deps, acme) == []


async def test_only_new_creates_a_label_once_and_refuses_a_second_creator(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    create = MoveLabel(agent_id=agent.id, name="staging", blueprint_id=v1.id, only_new=True)

    made = await move_label_to(deps, acme.member, create)
    with pytest.raises(LabelChanged) as second:
        await move_label_to(deps, acme.admin, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=v2.id,
                                                       only_new=True))  # fmt: skip

    assert made.version == 1
    assert second.value.extra() == {"etag": str(v1.id)}
    assert (await label(deps, acme.member, agent, "staging")).blueprint_id == v1.id
    assert [e.details["blueprint_id"] for e in await label_events(deps, acme)] == [str(v1.id)]


# -- history -----------------------------------------------------------------------------------------------------


async def test_the_history_is_every_move_newest_first_with_who_and_when(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    clock = clock_of(deps)
    at_1 = clock.advance()
    await move(deps, acme.member, agent, "staging", v1)
    at_2 = clock.advance()
    await move(deps, acme.admin, agent, "staging", v2)

    assert await history(deps, acme.member, agent, "staging") == [
        LabelMove(
            agent_id=agent.id,
            name="staging",
            seq=2,
            blueprint_id=v2.id,
            version=2,
            previous_blueprint_id=v1.id,
            previous_version=1,
            moved_by="acme-admin",
            moved_at=at_2,
        ),
        LabelMove(
            agent_id=agent.id,
            name="staging",
            seq=1,
            blueprint_id=v1.id,
            version=1,
            previous_blueprint_id=None,
            previous_version=None,
            moved_by="acme-member",
            moved_at=at_1,
        ),
    ]


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_the_history_is_paged_newest_first_each_move_exactly_once(deps: Deps, limit: int) -> None:
    acme = await team(deps, "acme")
    agent, versions = await agent_with_versions(deps, acme, 3)
    for version in [*versions, versions[0], versions[1], versions[2], versions[0]]:
        await move(deps, acme.member, agent, "staging", version)
    await move(deps, acme.member, agent, "other", versions[0])  # another label's moves are not in it

    seen: list[LabelMove] = []
    cursor: str | None = None
    while True:
        page = await label_history(
            deps, acme.member, LabelHistory(agent_id=agent.id, name="staging", limit=limit, cursor=cursor)
        )
        assert 1 <= len(page.items) <= limit
        seen += page.items
        if (cursor := page.next_cursor) is None:
            break

    assert [m.seq for m in seen] == [7, 6, 5, 4, 3, 2, 1]
    assert [m.version for m in seen] == [1, 3, 2, 1, 3, 2, 1]
    assert {m.name for m in seen} == {"staging"}


async def test_each_label_numbers_its_own_history_whatever_the_moves_of_the_others(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    names = ["b", "a", "production", "a-b", "a", "z", "b", "production", "a", "a-b", "b"]
    expected: dict[str, list[UUID]] = {}
    for n, name in enumerate(names):
        version = [v1, v2][len(expected.get(name, [])) % 2]  # every move changes the label
        await move(deps, acme.owner, agent, name, version)
        expected.setdefault(name, []).append(version.id)
        clock_of(deps).advance()
        assert len(await label_events(deps, acme)) == n + 1

    for name, moves in expected.items():
        entries = (await history(deps, acme.member, agent, name))[::-1]
        assert [m.seq for m in entries] == list(range(1, len(moves) + 1)), name
        assert [m.blueprint_id for m in entries] == moves
        assert [m.previous_blueprint_id for m in entries] == [None, *moves[:-1]]


async def test_concurrent_moves_queue_and_leave_each_history_a_chain_without_gaps_or_repeats(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, versions = await agent_with_versions(deps, acme, 3)

    def step(n: int) -> Awaitable[object]:
        target = versions[n % 3]
        if n % 4 == 0:
            return activate_version(deps, acme.admin, ActivateVersion(agent_id=agent.id, version_id=target.id))
        if n % 4 == 1:
            cmd = CompileVersion(agent_id=agent.id, version_id=target.id, label="staging")
            return compile_version(deps, acme.owner, cmd)
        return move(deps, acme.member if n % 2 else acme.owner, agent, ["staging", "production"][n % 2 - 1], target)

    await asyncio.gather(*(step(n) for n in range(24)))

    moves = [e for e in await label_events(deps, acme) if e.action is Action.LABEL_MOVE]
    for name in ("staging", "production"):
        entries = (await history(deps, acme.member, agent, name))[::-1]
        assert [m.seq for m in entries] == list(range(1, len(entries) + 1))
        chain = [None, *(m.blueprint_id for m in entries)]
        assert [m.previous_blueprint_id for m in entries] == chain[:-1]
        assert all(before != after for before, after in itertools.pairwise(chain))  # every entry moved it
        assert len([e for e in moves if e.details["label"] == name]) == len(entries)
        assert (await label(deps, acme.member, agent, name)).blueprint_id == chain[-1]
    assert (
        await active_id(deps, acme.member, agent) == (await label(deps, acme.member, agent, "production")).blueprint_id
    )


async def test_history_paging_refuses_a_bad_cursor_or_limit(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    for cmd in [
        LabelHistory(agent_id=agent.id, name="staging", cursor="not a cursor"),
        LabelHistory(agent_id=agent.id, name="staging", limit=0),
        LabelHistory(agent_id=agent.id, name="staging", limit=101),
    ]:
        with pytest.raises(Malformed):
            await label_history(deps, acme.member, cmd)


async def test_a_deletion_is_in_the_history_which_stays_readable_and_continues_when_recreated(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await move(deps, acme.member, agent, "staging", v2)
    deleted_at = clock_of(deps).advance()

    await delete_label(deps, acme.admin, DeleteLabel(agent_id=agent.id, name="staging"))

    with pytest.raises(LabelNotFound):
        await label(deps, acme.member, agent, "staging")
    with pytest.raises(NoLivePrompt):
        await served(deps, acme.member, agent, "staging")
    assert "staging" not in [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))]
    [deletion, *_] = await history(deps, acme.member, agent, "staging")
    assert deletion == LabelMove(
        agent_id=agent.id,
        name="staging",
        seq=3,
        blueprint_id=None,
        version=None,
        previous_blueprint_id=v2.id,
        previous_version=2,
        moved_by="acme-admin",
        moved_at=deleted_at,
    )

    recreated = await move(deps, acme.member, agent, "staging", v1)
    assert not recreated.protected
    assert [
        (m.seq, m.blueprint_id, m.previous_blueprint_id) for m in await history(deps, acme.member, agent, "staging")
    ][:2] == [
        (4, v1.id, None),
        (3, None, v2.id),
    ]


async def test_the_history_of_a_label_that_never_existed_is_not_found(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    for name in ("canary", "production"):
        with pytest.raises(LabelNotFound):
            await label_history(deps, acme.member, LabelHistory(agent_id=agent.id, name=name))


# -- tenancy -------------------------------------------------------------------------------------------------------


def label_use_cases(
    deps: Deps, who: Principal, agent_id: UUID, version_id: UUID
) -> list[Callable[[], Awaitable[object]]]:
    """Every label use case on `agent_id`, as a caller of any role could ask for it."""
    return [
        lambda: list_labels(deps, who, ListLabels(agent_id=agent_id)),
        lambda: get_label(deps, who, GetLabel(agent_id=agent_id, name="staging")),
        lambda: get_label(deps, who, GetLabel(agent_id=agent_id, name="production")),
        lambda: move_label_to(deps, who, MoveLabel(agent_id=agent_id, name="staging", blueprint_id=version_id)),
        lambda: move_label_to(deps, who, MoveLabel(agent_id=agent_id, name="production", blueprint_id=version_id)),
        lambda: protect_label(deps, who, ProtectLabel(agent_id=agent_id, name="staging", protected=True)),
        lambda: delete_label(deps, who, DeleteLabel(agent_id=agent_id, name="staging")),
        lambda: label_history(deps, who, LabelHistory(agent_id=agent_id, name="staging")),
        lambda: get_live_prompt(deps, who, GetLivePrompt(agent_id=agent_id, label="staging")),
        lambda: get_live_prompt(deps, who, GetLivePrompt(agent_id=agent_id, label="latest")),
        lambda: watch_live_prompt(
            deps, who, WatchLivePrompt(agent_id=agent_id, label="staging", wait_s=1), lambda _: True
        ),
        lambda: compile_version(deps, who, CompileVersion(agent_id=agent_id, version_id=version_id, label="staging")),
    ]


async def test_another_organizations_agent_is_not_found_for_every_label_use_case(deps: Deps) -> None:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await move(deps, acme.owner, agent, "production", v1)
    before = await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))

    for who in globex.managers:
        for step in label_use_cases(deps, who, agent.id, v2.id):
            with pytest.raises(AgentNotFound):
                await step()

    assert await list_labels(deps, acme.member, ListLabels(agent_id=agent.id)) == before
    assert await agents_trail(deps, globex.owner) == []


# -- the audit trail -----------------------------------------------------------------------------------------------


async def test_every_label_change_is_audited_with_both_versions(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    clock = clock_of(deps)
    at = [clock.advance()]
    await move(deps, acme.member, agent, "staging", v1)
    at.append(clock.advance())
    await move(deps, acme.admin, agent, "staging", v2)
    at.append(clock.advance())
    await protect_label(deps, acme.owner, ProtectLabel(agent_id=agent.id, name="staging", protected=True))
    at.append(clock.advance())
    await delete_label(deps, acme.admin, DeleteLabel(agent_id=agent.id, name="staging"))

    trail = await label_events(deps, acme)

    assert [(e.action, e.actor, e.target_id, e.occurred_at, e.org_id) for e in trail] == [
        (Action.LABEL_MOVE, "acme-member", agent.id, at[0], acme.owner.org_id),
        (Action.LABEL_MOVE, "acme-admin", agent.id, at[1], acme.owner.org_id),
        (Action.LABEL_PROTECT, "acme-owner", agent.id, at[2], acme.owner.org_id),
        (Action.LABEL_DELETE, "acme-admin", agent.id, at[3], acme.owner.org_id),
    ]
    assert [e.details for e in trail] == [
        {
            "label": "staging",
            "blueprint_id": str(v1.id),
            "version": 1,
            "previous_blueprint_id": None,
            "previous_version": None,
        },
        {
            "label": "staging",
            "blueprint_id": str(v2.id),
            "version": 2,
            "previous_blueprint_id": str(v1.id),
            "previous_version": 1,
        },
        {"label": "staging", "protected": True},
        {
            "label": "staging",
            "blueprint_id": None,
            "version": None,
            "previous_blueprint_id": str(v2.id),
            "previous_version": 2,
        },
    ]


async def test_a_fault_before_the_event_is_written_leaves_the_label_and_its_history_as_they_were(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    staging = await move(deps, acme.member, agent, "staging", v1)
    before = await events(deps, acme)

    # The move's only new id is its audit event's: the label and its history entry are written by then.
    with pytest.raises(IdSourceDown):
        await move(failing_on(deps, 1), acme.member, agent, "staging", v2)
    with pytest.raises(IdSourceDown):
        await move(failing_on(deps, 1), acme.member, agent, "canary", v2)
    with pytest.raises(IdSourceDown):
        await move(failing_on(deps, 1), acme.owner, agent, "production", v2)
    with pytest.raises(IdSourceDown):
        await delete_label(failing_on(deps, 1), acme.member, DeleteLabel(agent_id=agent.id, name="staging"))
    with pytest.raises(IdSourceDown):
        await protect_label(
            failing_on(deps, 1), acme.admin, ProtectLabel(agent_id=agent.id, name="staging", protected=True)
        )

    assert await label(deps, acme.member, agent, "staging") == staging
    assert len(await history(deps, acme.member, agent, "staging")) == 1
    with pytest.raises(LabelNotFound):
        await label_history(deps, acme.member, LabelHistory(agent_id=agent.id, name="canary"))
    assert await active_id(deps, acme.member, agent) is None
    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v1.id
    assert await events(deps, acme) == before


async def test_a_move_left_uncommitted_leaves_nothing_behind(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)

    async with deps.uow() as uow:  # the caller's unit of work, as compile_version and activate_version use it
        held = await uow.agents.get_for_update(acme.owner.org_id, agent.id)
        version = await uow.versions.get(agent.id, v1.id)
        await move_label(uow, deps, acme.owner, held, "staging", version)
        await move_label(uow, deps, acme.owner, held, "production", version)
        assert (await uow.labels.get(agent.id, "staging")) is not None  # seen inside the transaction

    assert [x.name for x in await list_labels(deps, acme.member, ListLabels(agent_id=agent.id))] == ["latest"]
    assert await label_events(deps, acme) == []


# -- serving by label --------------------------------------------------------------------------------------------


async def test_each_label_serves_the_compiled_prompt_it_names(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2, v3] = await agent_with_versions(deps, acme, 3)
    await move(deps, acme.owner, agent, "production", v1)
    await move(deps, acme.member, agent, "staging", v2)

    for name, version in [("production", v1), ("staging", v2), ("latest", v3)]:
        live = await served(deps, acme.member, agent, name)
        assert (live.agent_id, live.blueprint_id, live.version, live.label) == (
            agent.id,
            version.id,
            version.version,
            name,
        )
        assert (live.compiled_system_prompt, live.compiled_at) == (version.compiled_system_prompt, version.compiled_at)
    assert await get_live_prompt(deps, acme.member, GetLivePrompt(agent_id=agent.id)) == await served(
        deps, acme.member, agent, "production"
    )


async def test_a_served_label_follows_its_moves_and_latest_follows_compilation(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v1.id  # and now held in memory
    assert (await served(deps, acme.member, agent, "latest")).blueprint_id == v2.id

    await move(deps, acme.member, agent, "staging", v2)
    v3 = await compiled(deps, acme, agent, "v3")

    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v2.id
    assert (await served(deps, acme.member, agent, "latest")).blueprint_id == v3.id


async def test_a_switched_off_or_deleted_agent_serves_no_label(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.owner, agent, "production", v1)
    await move(deps, acme.member, agent, "staging", v2)
    for name in ("production", "staging", "latest"):
        await served(deps, acme.member, agent, name)

    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    for name in ("production", "staging", "latest"):
        with pytest.raises(NoLivePrompt):
            await served(deps, acme.member, agent, name)

    await activate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    assert (await served(deps, acme.member, agent, "staging")).blueprint_id == v2.id
    await delete_agent(deps, acme.admin, SetStatus(agent_id=agent.id))
    for name in ("production", "staging", "latest"):
        with pytest.raises(NoLivePrompt):
            await served(deps, acme.member, agent, name)


async def test_an_unknown_label_serves_no_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    with pytest.raises(NoLivePrompt) as raised:
        await served(deps, acme.member, agent, "canary")
    assert (raised.value.agent_id, raised.value.label) == (agent.id, "canary")
    with pytest.raises(NoLivePrompt):
        await served(deps, acme.member, agent, "production")  # nothing is live


# -- watching a label --------------------------------------------------------------------------------------------


async def until(check: Callable[[], bool], what: str) -> None:
    """Yields to the event loop until `check` holds; fails after DEADLINE_S. It waits for a condition, never for time
    to pass: the steps it waits for run on this loop (or arrive from the database's feed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        assert loop.time() < deadline, f"not within {DEADLINE_S} s: {what}"
        await asyncio.sleep(0.001)


async def following(deps: Deps) -> None:
    """On PostgreSQL (marked live_cache) the feed attaches the cache once it listens; memory's always is."""
    await until(lambda: deps.live.attached, "the live cache follows changes")


def watch(
    deps: Deps, who: Principal, agent: Agent, name: str, have: UUID | None, wait_s: float = 30
) -> "asyncio.Task[LivePrompt]":
    """A runtime holding the prompt of version `have`, waiting for the label to move."""
    cmd = WatchLivePrompt(agent_id=agent.id, label=name, wait_s=wait_s)
    return asyncio.create_task(watch_live_prompt(deps, who, cmd, lambda live: live.blueprint_id == have))


@pytest.mark.live_cache
@pytest.mark.parametrize("name", ["staging", "production"])
async def test_a_move_answers_a_waiting_watch_at_once(deps: Deps, name: str) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.owner, agent, name, v1)
    await following(deps)

    waiting = watch(deps, acme.member, agent, name, have=v1.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    assert not waiting.done()
    await move(deps, acme.owner, agent, name, v2)
    live = await asyncio.wait_for(waiting, DEADLINE_S)

    assert (live.blueprint_id, live.label) == (v2.id, name)
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_a_watch_stays_held_through_changes_of_other_labels(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)

    waiting = watch(deps, acme.member, agent, "staging", have=v1.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    await move(deps, acme.member, agent, "canary", v2)  # wakes the agent's watches: staging is read, unchanged
    await until(lambda: deps.live.watching == 1 and not waiting.done(), "the watch is held again")
    await move(deps, acme.member, agent, "staging", v2)

    assert (await asyncio.wait_for(waiting, DEADLINE_S)).blueprint_id == v2.id


@pytest.mark.live_cache
async def test_a_watch_answers_at_once_when_the_caller_is_behind(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v2)
    await following(deps)

    live = await asyncio.wait_for(watch(deps, acme.member, agent, "staging", have=v1.id), DEADLINE_S)

    assert live.blueprint_id == v2.id
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_a_new_compile_answers_a_watch_on_latest(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [_, v2] = await agent_with_versions(deps, acme)
    v3 = await draft(deps, acme, agent)
    await following(deps)

    waiting = watch(deps, acme.member, agent, "latest", have=v2.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v3.id))

    assert (await asyncio.wait_for(waiting, DEADLINE_S)).blueprint_id == v3.id


@pytest.mark.live_cache
async def test_a_cancelled_watch_is_given_back(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)

    waiting = watch(deps, acme.member, agent, "staging", have=v1.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    waiting.cancel()  # the runtime hung up

    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_a_watch_times_out_with_the_unchanged_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)

    live = await asyncio.wait_for(watch(deps, acme.member, agent, "staging", have=v1.id, wait_s=0.05), DEADLINE_S)

    assert (live.blueprint_id, live.label) == (v1.id, "staging")
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_switching_the_agent_off_ends_a_watch_with_no_live_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)

    waiting = watch(deps, acme.member, agent, "staging", have=v1.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    await deactivate_agent(deps, acme.admin, SetStatus(agent_id=agent.id))

    with pytest.raises(NoLivePrompt):
        await asyncio.wait_for(waiting, DEADLINE_S)
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_deleting_the_watched_label_ends_the_watch_with_no_live_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)

    waiting = watch(deps, acme.member, agent, "staging", have=v1.id)
    await until(lambda: deps.live.watching == 1, "the watch is held")
    await delete_label(deps, acme.member, DeleteLabel(agent_id=agent.id, name="staging"))

    with pytest.raises(NoLivePrompt):
        await asyncio.wait_for(waiting, DEADLINE_S)
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_a_watch_of_an_unknown_label_is_answered_at_once_with_no_live_prompt(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, _ = await agent_with_versions(deps, acme)
    await following(deps)

    with pytest.raises(NoLivePrompt):
        await asyncio.wait_for(watch(deps, acme.member, agent, "canary", have=None), DEADLINE_S)
    assert deps.live.watching == 0


async def test_a_detached_cache_answers_a_watch_at_once(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    deps.live.detach()  # the feed is down: no move would be heard, so none is waited for

    live = await asyncio.wait_for(watch(deps, acme.member, agent, "staging", have=v1.id, wait_s=60), DEADLINE_S)

    assert live.blueprint_id == v1.id
    assert deps.live.watching == 0


@pytest.mark.live_cache
async def test_past_the_maximum_of_watches_a_watch_is_answered_at_once(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent, [v1, v2] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)
    await following(deps)
    deps.live.max_watchers = 1

    held = watch(deps, acme.member, agent, "staging", have=v1.id)
    await until(lambda: deps.live.watching == 1, "the first watch is held")
    over = await asyncio.wait_for(watch(deps, acme.member, agent, "staging", have=v1.id, wait_s=60), DEADLINE_S)
    assert over.blueprint_id == v1.id
    assert not held.done()
    await move(deps, acme.member, agent, "staging", v2)

    assert (await asyncio.wait_for(held, DEADLINE_S)).blueprint_id == v2.id
    assert deps.live.watching == 0


@pytest.mark.parametrize("wait_s", [0, -1, 60.5, 3600])
async def test_a_watch_waits_more_than_0_and_at_most_60_seconds(deps: Deps, wait_s: float) -> None:
    acme = await team(deps, "acme")
    agent, [v1, _] = await agent_with_versions(deps, acme)
    await move(deps, acme.member, agent, "staging", v1)

    with pytest.raises(Malformed):
        await watch(deps, acme.member, agent, "staging", have=v1.id, wait_s=wait_s)
    assert deps.live.watching == 0
