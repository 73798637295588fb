"""Change notes, stored warnings, the dry run and the diff of two versions, through the use cases, on every adapter."""

import copy
import weakref
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from application.agents import CreateAgent, CreateAgentWithBlueprint, create_agent, create_agent_with_blueprint
from application.blueprints import (
    AddVersion,
    CompileVersion,
    GetVersion,
    PreviewBlueprint,
    add_version,
    compile_version,
    get_version,
    preview_blueprint,
)
from application.deps import Deps
from application.diff import DiffVersions, diff_versions
from domain.blueprints import MAX_MESSAGE, CompilationStatus, saving_violations
from domain.diff import Change, Op
from domain.document import SECTION_ORDER
from domain.errors import AgentNotFound, BlueprintNotFound, InvalidBlueprint
from tests.contract.test_audit import whole_trail
from tests.samples import Team, missing_identity_name, shop_buddy, team, wrong_typed
from tests.strategies import blueprint_documents

pytestmark = pytest.mark.anyio


def with_unknown_section() -> dict[str, Any]:
    return shop_buddy() | {"x_notes": "kept verbatim, reported as a warning"}


async def test_a_change_note_is_kept_with_its_version_and_in_its_audit_event(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    noted = await add_version(
        deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy(), message="Friendlier tone")
    )
    plain = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))

    stored = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=noted.id))
    assert (stored.message, plain.message) == ("Friendlier tone", None)
    events = [e for e in await whole_trail(deps, acme.owner) if e.target_id == noted.id]
    assert events[0].details["message"] == "Friendlier tone"
    made = await create_agent_with_blueprint(
        deps, acme.member, CreateAgentWithBlueprint(name="B", agent_blueprint=shop_buddy(), message="first cut")
    )
    assert made.blueprint.message == "first cut"


@pytest.mark.parametrize("message", ["x" * (MAX_MESSAGE + 1), "nul \x00 inside"])
async def test_a_change_note_too_long_or_with_nul_is_refused_and_nothing_is_saved(deps: Deps, message: str) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))

    with pytest.raises(InvalidBlueprint) as refused:
        await add_version(
            deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy(), message=message)
        )

    assert [v.field for v in refused.value.violations] == ["message"]
    assert (
        await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    ).version == 1
    assert (await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint={}))).version == 2


async def test_warnings_are_stored_with_the_outcome_and_returned_with_the_version(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(
        deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=with_unknown_section())
    )
    assert version.compile_warnings is None  # a draft has no outcome yet

    report = await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    stored = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    again = await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

    assert [w.field for w in report.warnings] == ["x_notes"]
    assert stored.compile_warnings == report.warnings
    assert again.warnings == report.warnings


async def test_a_failed_compile_keeps_its_warnings_too(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    document = missing_identity_name() | {"x_notes": 1}
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=document))

    with pytest.raises(InvalidBlueprint):
        await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))

    stored = await get_version(deps, acme.member, GetVersion(agent_id=agent.id, version_id=version.id))
    assert stored.compilation_status is CompilationStatus.FAILED
    assert [w.field for w in stored.compile_warnings or []] == ["x_notes"]


TEAMS: "weakref.WeakKeyDictionary[Deps, Team]" = weakref.WeakKeyDictionary()  # by the deps, not by an id reused


def _json_can_carry(document: object) -> bool:
    """What a request can hold: JSON text is UTF-8, so a lone surrogate never arrives (the parser refuses it)."""
    try:
        msgspec.json.encode(document).decode()
    except (UnicodeError, msgspec.EncodeError):
        return False
    return True


async def _counts(deps: Deps, who: Any) -> tuple[int, int]:
    events = await whole_trail(deps, who)
    async with deps.uow() as uow:
        stats = await uow.versions.stats(who.org_id)
    return len(events), stats.total_blueprints


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(blueprint_documents(), blueprint_documents(valid=False)))
async def test_a_dry_run_answers_what_compile_records_and_writes_nothing(deps: Deps, document: dict[str, Any]) -> None:
    assume(_json_can_carry(document))
    if deps not in TEAMS:  # one team for every example: minting tokens per example is most of the cost
        TEAMS[deps] = await team(deps, "acme")
    acme = TEAMS[deps]
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    before = await _counts(deps, acme.owner)

    if saving_violations(document):
        with pytest.raises(InvalidBlueprint) as refused:
            await preview_blueprint(deps, acme.member, PreviewBlueprint(agent_blueprint=copy.deepcopy(document)))
        with pytest.raises(InvalidBlueprint) as saved:
            await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=document))
        assert refused.value.violations == saved.value.violations  # refused exactly as a save is
        assert await _counts(deps, acme.owner) == before
        return
    preview = await preview_blueprint(deps, acme.member, PreviewBlueprint(agent_blueprint=copy.deepcopy(document)))
    assert await _counts(deps, acme.owner) == before

    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=document))
    if preview.prompt is None:
        with pytest.raises(InvalidBlueprint) as failed:
            await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
        assert preview.violations == failed.value.violations
        return
    report = await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id))
    assert preview.prompt == report.blueprint.compiled_system_prompt
    assert preview.violations == []
    assert preview.warnings == report.warnings


async def test_a_dry_run_refuses_what_a_save_refuses(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(InvalidBlueprint) as refused:
        await preview_blueprint(deps, acme.member, PreviewBlueprint(agent_blueprint=wrong_typed()))

    assert refused.value.violations


async def test_the_diff_defaults_to_the_version_before_and_to_the_empty_document_for_version_1(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    v1 = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    changed = shop_buddy()
    changed["identity"]["role"] = "Stylist"
    v2 = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=changed))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=v1.id))

    second = await diff_versions(deps, acme.member, DiffVersions(agent_id=agent.id, version_id=v2.id))
    first = await diff_versions(deps, acme.member, DiffVersions(agent_id=agent.id, version_id=v1.id))
    backwards = await diff_versions(deps, acme.member, DiffVersions(agent_id=agent.id, version_id=v1.id, from_id=v2.id))

    old_role = shop_buddy()["identity"]["role"]
    assert second.from_ is not None
    assert (second.from_.id, second.to.id) == (v1.id, v2.id)
    assert second.changes == [Change(path="identity.role", op=Op.CHANGED, before=old_role, after="Stylist")]
    assert second.prompt_diff is not None
    assert "+Your role: Stylist" in second.prompt_diff
    assert first.from_ is None
    assert [(c.op, c.path) for c in first.changes] == [(Op.ADDED, key) for key in SECTION_ORDER if key in shop_buddy()]
    assert first.prompt_diff is None  # the empty document does not compile
    assert backwards.changes == [Change(path="identity.role", op=Op.CHANGED, before="Stylist", after=old_role)]


async def test_the_diff_has_no_prompt_diff_when_a_side_does_not_compile(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    v2 = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=missing_identity_name()))

    made = await diff_versions(deps, acme.member, DiffVersions(agent_id=agent.id, version_id=v2.id))

    assert made.prompt_diff is None
    assert [c.path for c in made.changes] == ["identity.name"]


async def test_the_diff_against_a_version_of_another_agent_or_organization_is_not_found(deps: Deps) -> None:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")
    mine = await create_agent(deps, acme.member, CreateAgent(name="Mine"))
    other = await create_agent(deps, acme.member, CreateAgent(name="Other"))
    v1 = await add_version(deps, acme.member, AddVersion(agent_id=mine.id, agent_blueprint=shop_buddy()))
    elsewhere = await add_version(deps, acme.member, AddVersion(agent_id=other.id, agent_blueprint=shop_buddy()))

    with pytest.raises(BlueprintNotFound):
        await diff_versions(deps, acme.member, DiffVersions(agent_id=mine.id, version_id=v1.id, from_id=elsewhere.id))
    with pytest.raises(BlueprintNotFound):
        await diff_versions(deps, acme.member, DiffVersions(agent_id=mine.id, version_id=elsewhere.id))
    with pytest.raises(AgentNotFound):
        await diff_versions(deps, globex.owner, DiffVersions(agent_id=mine.id, version_id=v1.id))
