"""The pure rules of a blueprint version: a new draft, compiling it, activating it, counting versions."""

from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest

from domain.agents import Agent, AgentStatus, new_agent, set_status
from domain.blueprints import (
    BlueprintVersion,
    CompilationStats,
    CompilationStatus,
    activate,
    compilation_stats,
    compile_version,
    new_version,
)
from domain.compiler import compile_blueprint
from domain.errors import AgentDeleted, InvalidBlueprint, VersionNotCompiled
from tests.doubles import T0
from tests.samples import FOUR_VIOLATION_FIELDS, missing_identity_name, shop_buddy, with_four_violations, wrong_typed

LATER = T0 + timedelta(minutes=5)
AGENT = new_agent(id=UUID(int=1), org_id=UUID(int=2), name="Shop Buddy", description=None, created_by="ann", now=T0)
DELETED = set_status(AGENT, AgentStatus.DELETE, now=T0)


def draft(
    doc: object, *, number: int = 1, agent: Agent = AGENT, conversation_id: str | None = None
) -> BlueprintVersion:
    return new_version(
        id=UUID(int=100 + number),
        agent=agent,
        number=number,
        document=doc,
        created_by="bob",
        conversation_id=conversation_id,
        now=T0,
    )


def compiled(doc: dict[str, Any], number: int = 1) -> BlueprintVersion:
    return compile_version(AGENT, draft(doc, number=number), by="ann", now=LATER).version


# -- new_version -------------------------------------------------------------------------------------------------


def test_a_new_version_is_a_draft_of_the_agent_with_the_document_as_written() -> None:
    doc = shop_buddy()
    doc["x_unknown"] = [1, {"kept": True}]

    version = draft(doc, number=3, conversation_id="chat-1")

    assert (version.agent_id, version.version, version.compilation_status) == (AGENT.id, 3, CompilationStatus.DRAFT)
    assert (version.agent_blueprint, version.conversation_id) == (doc, "chat-1")
    assert (version.created_by, version.created_at) == ("bob", T0)
    assert (version.compiled_system_prompt, version.compiled_at, version.compile_errors) == (None, None, None)


def test_a_draft_need_not_satisfy_the_compile_rules() -> None:
    assert draft(missing_identity_name()).compilation_status is CompilationStatus.DRAFT
    assert draft({}).agent_blueprint == {}


def test_a_new_version_with_wrongly_typed_sections_lists_each() -> None:
    with pytest.raises(InvalidBlueprint) as raised:
        draft(wrong_typed())

    assert [v.field for v in raised.value.violations] == ["identity", "tools"]


@pytest.mark.parametrize("doc", [[], "text", 1, None])
def test_a_new_version_must_be_a_json_object(doc: object) -> None:
    with pytest.raises(InvalidBlueprint) as raised:
        draft(doc)

    assert [v.field for v in raised.value.violations] == [""]


def test_a_new_version_lists_shape_nul_and_conversation_violations_together() -> None:
    doc: dict[str, Any] = {"identity": "x", "notes": ["ok", {"k": "a\x00"}]}

    with pytest.raises(InvalidBlueprint) as raised:
        draft(doc, conversation_id="c" * 256)

    assert [v.field for v in raised.value.violations] == ["identity", "notes[1].k", "conversation_id"]


def test_a_deleted_agent_takes_no_new_version() -> None:
    with pytest.raises(AgentDeleted):
        draft(shop_buddy(), agent=DELETED)


# -- compile_version ---------------------------------------------------------------------------------------------


def test_compiling_a_valid_draft_records_the_prompt_who_and_when() -> None:
    result = compile_version(AGENT, draft(shop_buddy()), by="ann", now=LATER)

    version = result.version
    expected = compile_blueprint(shop_buddy())
    assert result.changed
    assert (version.compilation_status, version.compiled_system_prompt) == (CompilationStatus.COMPILED, expected.prompt)
    assert (version.compiled_at, version.compiled_by, version.compile_errors) == (LATER, "ann", None)
    assert version.compiler_version == expected.compiler_version
    assert (version.agent_blueprint, version.version, version.created_at) == (shop_buddy(), 1, T0)


def test_compiling_an_invalid_draft_records_every_violation() -> None:
    result = compile_version(AGENT, draft(with_four_violations()), by="ann", now=LATER)

    version = result.version
    assert result.changed
    assert (version.compilation_status, version.compiled_system_prompt) == (CompilationStatus.FAILED, None)
    assert {v.field for v in version.compile_errors or []} == FOUR_VIOLATION_FIELDS
    assert (version.compiled_at, version.compiled_by) == (LATER, "ann")


def test_compiling_a_compiled_version_keeps_the_stored_result() -> None:
    first = compiled(shop_buddy())

    again = compile_version(AGENT, first, by="someone else", now=LATER + timedelta(days=1))

    assert not again.changed
    assert again.version is first


def test_compiling_a_failed_version_compiles_it_again() -> None:
    failed = compile_version(AGENT, draft(missing_identity_name()), by="ann", now=T0).version

    again = compile_version(AGENT, failed, by="bob", now=LATER)

    assert again.changed
    assert (again.version.compilation_status, again.version.compiled_by) == (CompilationStatus.FAILED, "bob")


def test_unknown_keys_compile_with_warnings() -> None:
    doc = shop_buddy()
    doc["x_unknown"] = 1

    result = compile_version(AGENT, draft(doc), by="ann", now=LATER)

    assert result.version.compilation_status is CompilationStatus.COMPILED
    assert [w.field for w in result.warnings] == ["x_unknown"]


def test_a_deleted_agent_compiles_nothing_not_even_a_compiled_version() -> None:
    with pytest.raises(AgentDeleted):
        compile_version(DELETED, draft(shop_buddy()), by="ann", now=LATER)
    with pytest.raises(AgentDeleted):
        compile_version(DELETED, compiled(shop_buddy()), by="ann", now=LATER)


# -- activate ----------------------------------------------------------------------------------------------------


def test_activating_a_compiled_version_makes_it_current() -> None:
    version = compiled(shop_buddy())

    live = activate(AGENT, version, now=LATER)

    assert (live.current_blueprint_id, live.updated_at, live.status) == (version.id, LATER, AgentStatus.ACTIVE)


def test_activating_an_older_compiled_version_rolls_back() -> None:
    old, new = compiled(shop_buddy("Old"), 1), compiled(shop_buddy("New"), 2)

    back = activate(activate(AGENT, new, now=T0), old, now=LATER)

    assert back.current_blueprint_id == old.id


def test_activating_the_current_version_returns_the_agent_unchanged() -> None:
    live = activate(AGENT, compiled(shop_buddy()), now=T0)

    assert activate(live, compiled(shop_buddy()), now=LATER) is live


def test_only_a_compiled_version_can_be_activated() -> None:
    failed = compile_version(AGENT, draft(missing_identity_name()), by="ann", now=T0).version

    for version in (draft(shop_buddy()), failed):
        with pytest.raises(VersionNotCompiled):
            activate(AGENT, version, now=LATER)


def test_a_deleted_agent_activates_nothing() -> None:
    with pytest.raises(AgentDeleted):
        activate(DELETED, compiled(shop_buddy()), now=LATER)


def test_a_version_of_another_agent_is_a_programming_error() -> None:
    other = msgspec.structs.replace(AGENT, id=UUID(int=9))

    with pytest.raises(ValueError, match="belongs to agent"):
        activate(other, compiled(shop_buddy()), now=LATER)


# -- compilation_stats -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compiled_count", "draft_count", "failed_count", "rate"),
    [(0, 0, 0, 0.0), (1, 0, 0, 100.0), (1, 1, 1, 33.33), (2, 1, 0, 66.67), (1, 7, 0, 12.5), (1, 199, 0, 0.5)],
)
def test_the_compilation_rate_is_the_compiled_percentage_to_two_decimals(
    compiled_count: int, draft_count: int, failed_count: int, rate: float
) -> None:
    stats = compilation_stats(compiled=compiled_count, draft=draft_count, failed=failed_count)

    assert stats == CompilationStats(
        total_blueprints=compiled_count + draft_count + failed_count,
        compiled_blueprints=compiled_count,
        draft_blueprints=draft_count,
        failed_blueprints=failed_count,
        compilation_rate=rate,
    )


def test_the_compilation_rate_rounds_half_up_like_sql() -> None:
    assert compilation_stats(compiled=1, draft=799, failed=0).compilation_rate == 0.13  # 0.125: half-even says 0.12
    assert compilation_stats(compiled=5, draft=795, failed=0).compilation_rate == 0.63  # 0.625: half-even says 0.62
    assert compilation_stats(compiled=1, draft=1599, failed=0).compilation_rate == 0.06  # 0.0625
