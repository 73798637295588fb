"""The pure rules of release labels (domain/labels.py): names, protection, If-Match, a move, a deletion, protecting,
and what a change adds to a label's history."""

import re
import string
from datetime import timedelta
from typing import Final
from uuid import UUID

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.agents import AgentStatus, new_agent, set_status
from domain.blueprints import BlueprintVersion, CompilationStatus, compile_version, new_version
from domain.errors import (
    AgentDeleted,
    InvalidLabel,
    LabelChanged,
    ProductionAlwaysProtected,
    ProductionUndeletable,
    RoleTooLow,
    VersionNotCompiled,
)
from domain.labels import (
    LATEST,
    MAX_NAME,
    PRODUCTION,
    Label,
    LabelMove,
    checked_name,
    ensure_current,
    ensure_deletable,
    ensure_may_change,
    history_entry,
    is_protected,
    move,
    protect,
)
from domain.roles import Principal, Role
from tests.doubles import T0
from tests.samples import missing_identity_name, shop_buddy

LATER: Final = T0 + timedelta(minutes=5)
AGENT: Final = new_agent(
    id=UUID(int=1), org_id=UUID(int=2), name="Shop Buddy", description=None, created_by="ann", now=T0
)
OFF: Final = set_status(AGENT, AgentStatus.DEACTIVE, now=T0)
DELETED: Final = set_status(AGENT, AgentStatus.DELETE, now=T0)
OTHER_AGENT: Final = msgspec.structs.replace(AGENT, id=UUID(int=9))


def who(role: Role) -> Principal:
    return Principal(org_id=AGENT.org_id, user_id=f"{role.value}-1", role=role)


def version(
    number: int = 1, *, compiles: bool = True, compile_it: bool = True, agent_id: UUID = AGENT.id
) -> BlueprintVersion:
    owner = msgspec.structs.replace(AGENT, id=agent_id)
    doc = shop_buddy(f"v{number}") if compiles else missing_identity_name()
    drafted = new_version(
        id=UUID(int=100 + number),
        agent=owner,
        number=number,
        document=doc,
        created_by="bob",
        conversation_id=None,
        now=T0,
    )
    return compile_version(owner, drafted, by="ann", now=T0).version if compile_it else drafted


def stored(name: str = "staging", *, number: int = 1, protected: bool = False) -> Label:
    return Label(
        agent_id=AGENT.id,
        name=name,
        blueprint_id=UUID(int=100 + number),
        version=number,
        protected=protected,
        moved_at=T0,
        moved_by="ann",
    )


# -- names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "staging", "canary-2", "v1.2_rc-3", "a" * MAX_NAME, PRODUCTION])
def test_a_name_is_1_to_36_lowercase_letters_digits_dots_underscores_and_dashes(name: str) -> None:
    assert checked_name(name, writing=True) == checked_name(name, writing=False) == name


@pytest.mark.parametrize(
    "name", ["", "Staging", "-a", ".a", "_a", "a" * (MAX_NAME + 1), "a b", "stagé", "a/b", "a\n", "\na", "a:b", "a\x00"]
)
def test_any_other_name_is_invalid_for_reading_and_writing(name: str) -> None:
    for writing in (True, False):
        with pytest.raises(InvalidLabel) as raised:
            checked_name(name, writing=writing)
        assert [v.field for v in raised.value.violations] == ["name"]


def test_latest_is_read_but_never_written() -> None:
    assert checked_name(LATEST, writing=False) == LATEST
    with pytest.raises(InvalidLabel) as raised:
        checked_name(LATEST, writing=True)
    assert "reserved" in raised.value.violations[0].message


ORACLE: Final = re.compile(r"[a-z0-9][a-z0-9._-]*")


@given(st.text(alphabet=string.ascii_letters + string.digits + "._- /\n\t:éA\x00", max_size=40))
def test_exactly_the_names_of_the_pattern_are_accepted(name: str) -> None:
    valid = 1 <= len(name) <= MAX_NAME and ORACLE.fullmatch(name) is not None
    try:
        checked_name(name, writing=False)
    except InvalidLabel:
        assert not valid
    else:
        assert valid


# -- protection ----------------------------------------------------------------------------------------------------


def test_production_is_always_protected_and_another_label_only_when_marked() -> None:
    assert is_protected(PRODUCTION, None)
    assert is_protected(PRODUCTION, stored(PRODUCTION))
    assert is_protected("staging", stored(protected=True))
    assert not is_protected("staging", stored(protected=False))
    assert not is_protected("staging", None)


@pytest.mark.parametrize("role", list(Role))
def test_any_role_changes_an_unprotected_label_and_creates_a_new_one(role: Role) -> None:
    ensure_may_change(who(role), "staging", stored(protected=False))
    ensure_may_change(who(role), "staging", None)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_change_protected_labels_and_production(role: Role) -> None:
    ensure_may_change(who(role), "staging", stored(protected=True))
    ensure_may_change(who(role), PRODUCTION, None)
    ensure_may_change(who(role), PRODUCTION, stored(PRODUCTION))


@pytest.mark.parametrize(
    ("name", "label"), [("staging", stored(protected=True)), (PRODUCTION, None), (PRODUCTION, stored(PRODUCTION))]
)
def test_a_member_may_not_change_a_protected_label_or_production(name: str, label: Label | None) -> None:
    with pytest.raises(RoleTooLow):
        ensure_may_change(who(Role.MEMBER), name, label)


# -- If-Match ------------------------------------------------------------------------------------------------------


def test_without_if_match_anything_goes() -> None:
    ensure_current("staging", None, None)
    ensure_current("staging", stored(), None)


def test_if_match_passes_for_the_current_version_among_others_or_a_star_on_an_existing_label() -> None:
    current = stored(number=3)
    ensure_current("staging", current, frozenset({str(current.blueprint_id)}))
    ensure_current("staging", current, frozenset({str(UUID(int=7)), str(current.blueprint_id)}))
    ensure_current("staging", current, frozenset({"*"}))


def test_if_match_on_another_version_fails_naming_the_current_one() -> None:
    current = stored(number=3)
    for tags in (frozenset({str(UUID(int=7))}), frozenset()):
        with pytest.raises(LabelChanged) as raised:
            ensure_current("staging", current, tags)
        assert raised.value.extra() == {"etag": str(current.blueprint_id)}


def test_any_if_match_on_a_label_that_does_not_exist_fails_with_no_etag() -> None:
    for tags in (frozenset({"*"}), frozenset({str(UUID(int=7))})):
        with pytest.raises(LabelChanged) as raised:
            ensure_current("staging", None, tags)
        assert raised.value.extra() == {"etag": None}


# -- a move --------------------------------------------------------------------------------------------------------


def test_a_first_move_creates_an_unprotected_label_on_the_version() -> None:
    target = version(2)

    made = move(AGENT, "staging", None, target, by="ann", now=LATER)

    assert made == Label(
        agent_id=AGENT.id,
        name="staging",
        blueprint_id=target.id,
        version=2,
        protected=False,
        moved_at=LATER,
        moved_by="ann",
    )


def test_a_move_keeps_the_protection_and_production_is_protected() -> None:
    assert move(AGENT, "staging", stored(protected=True), version(2), by="ann", now=LATER).protected
    assert move(AGENT, PRODUCTION, None, version(2), by="ann", now=LATER).protected


def test_moving_to_the_version_the_label_names_returns_it_unchanged() -> None:
    label = stored(number=1)

    assert move(AGENT, "staging", label, version(1), by="bob", now=LATER) is label


def test_a_switched_off_agent_may_move_a_label_a_deleted_one_may_not() -> None:
    assert move(OFF, "staging", None, version(1), by="ann", now=LATER).blueprint_id == version(1).id
    with pytest.raises(AgentDeleted):
        move(DELETED, "staging", None, version(1), by="ann", now=LATER)
    with pytest.raises(AgentDeleted):
        move(DELETED, "staging", stored(number=1), version(1), by="ann", now=LATER)  # even a move that changes nothing


@pytest.mark.parametrize(
    ("target", "status"), [(version(1, compile_it=False), "draft"), (version(1, compiles=False), "failed")]
)
def test_only_a_compiled_version_is_labelled(target: BlueprintVersion, status: str) -> None:
    assert target.compilation_status is CompilationStatus(status)
    with pytest.raises(VersionNotCompiled) as raised:
        move(AGENT, "staging", None, target, by="ann", now=LATER)
    assert raised.value.extra() == {"compilation_status": status}


def test_a_version_of_another_agent_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="belongs to agent"):
        move(AGENT, "staging", None, version(1, agent_id=OTHER_AGENT.id), by="ann", now=LATER)


# -- deleting and protecting -------------------------------------------------------------------------------------


def test_production_is_undeletable_and_a_deleted_agent_deletes_nothing() -> None:
    ensure_deletable(AGENT, "staging")
    ensure_deletable(OFF, "staging")
    with pytest.raises(ProductionUndeletable):
        ensure_deletable(AGENT, PRODUCTION)
    for name in ("staging", PRODUCTION):
        with pytest.raises(AgentDeleted):
            ensure_deletable(DELETED, name)


def test_protecting_returns_the_marked_label_or_none_when_it_already_is() -> None:
    label = stored(protected=False)

    marked = protect(AGENT, label, True)

    assert marked == msgspec.structs.replace(label, protected=True)
    assert marked is not None
    assert protect(AGENT, marked, True) is None
    assert protect(AGENT, marked, False) == label
    assert protect(AGENT, label, False) is None


def test_production_cannot_be_unprotected_and_protecting_it_changes_nothing() -> None:
    production = stored(PRODUCTION, protected=True)
    with pytest.raises(ProductionAlwaysProtected):
        protect(AGENT, production, False)
    assert protect(AGENT, production, True) is None


def test_a_deleted_agent_protects_nothing() -> None:
    for label, protected in [
        (stored(protected=False), True),
        (stored(protected=True), True),
        (stored(PRODUCTION, protected=True), False),
    ]:
        with pytest.raises(AgentDeleted):
            protect(DELETED, label, protected)


# -- history -----------------------------------------------------------------------------------------------------


def test_a_history_entry_records_both_versions_who_and_when() -> None:
    before, after = stored(number=1), stored(number=2)

    entry = history_entry(before, after, name="staging", agent_id=AGENT.id, seq=4, by="bob", now=LATER)

    assert entry == LabelMove(
        agent_id=AGENT.id,
        name="staging",
        seq=4,
        blueprint_id=after.blueprint_id,
        version=2,
        previous_blueprint_id=before.blueprint_id,
        previous_version=1,
        moved_by="bob",
        moved_at=LATER,
    )


def test_a_creation_has_no_previous_version_and_a_deletion_no_version() -> None:
    label = stored(number=3)

    created = history_entry(None, label, name="staging", agent_id=AGENT.id, seq=1, by="ann", now=T0)
    deleted = history_entry(label, None, name="staging", agent_id=AGENT.id, seq=2, by="bob", now=LATER)

    assert (created.blueprint_id, created.version, created.previous_blueprint_id, created.previous_version) == (
        label.blueprint_id,
        3,
        None,
        None,
    )
    assert (deleted.blueprint_id, deleted.version, deleted.previous_blueprint_id, deleted.previous_version) == (
        None,
        None,
        label.blueprint_id,
        3,
    )
