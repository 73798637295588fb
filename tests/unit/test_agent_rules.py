"""The pure rules of an agent: a valid new agent, updates that change only what they say, status changes."""

from datetime import timedelta
from uuid import UUID

import pytest

from domain.agents import Agent, AgentStatus, new_agent, set_status, update_agent
from domain.errors import AgentDeleted, InvalidAgent
from tests.doubles import T0

AGENT_ID = UUID(int=1)
ORG_ID = UUID(int=2)
LATER = T0 + timedelta(minutes=5)


def live(name: str = "Name", description: str | None = None) -> Agent:
    return new_agent(id=AGENT_ID, org_id=ORG_ID, name=name, description=description, created_by="ann", now=T0)


def test_a_new_agent_is_active_without_a_blueprint_and_created_now() -> None:
    made = new_agent(id=AGENT_ID, org_id=ORG_ID, name=" Shop Buddy ", description=None, created_by="ann", now=T0)

    assert (made.id, made.org_id, made.name, made.description) == (AGENT_ID, ORG_ID, "Shop Buddy", None)
    assert (made.status, made.current_blueprint_id, made.number) == (AgentStatus.ACTIVE, None, None)
    assert (made.created_by, made.created_at, made.updated_at) == ("ann", T0, T0)


@pytest.mark.parametrize(
    ("name", "description", "fields"),
    [
        ("", None, ["name"]),
        (" \t\n", None, ["name"]),
        ("x" * 256, None, ["name"]),
        ("a\x00b", None, ["name"]),
        ("ok", "d" * 10_001, ["description"]),
        ("ok", "nul\x00", ["description"]),
        ("", "d" * 10_001, ["name", "description"]),
    ],
)
def test_a_new_agent_with_a_bad_name_or_description_lists_every_violation(
    name: str, description: str | None, fields: list[str]
) -> None:
    with pytest.raises(InvalidAgent) as raised:
        new_agent(id=AGENT_ID, org_id=ORG_ID, name=name, description=description, created_by="ann", now=T0)

    assert [v.field for v in raised.value.violations] == fields


def test_the_name_limit_counts_characters_after_trimming() -> None:
    made = new_agent(id=AGENT_ID, org_id=ORG_ID, name=f"  {'é' * 255}  ", description="", created_by="a", now=T0)

    assert made.name == "é" * 255


def test_an_update_changes_the_given_fields_and_the_update_time() -> None:
    before = live("Old", "text")

    after = update_agent(before, name=" New ", status=AgentStatus.DEACTIVE, now=LATER)

    assert (after.name, after.description, after.status) == ("New", "text", AgentStatus.DEACTIVE)
    assert (after.created_at, after.updated_at) == (T0, LATER)


def test_an_update_may_clear_the_description() -> None:
    before = live("Old", "text")

    assert update_agent(before, clear_description=True, now=LATER).description is None


def test_an_update_that_changes_nothing_returns_the_same_agent() -> None:
    before = live("Same", "text")

    assert update_agent(before, name="  Same ", description="text", status=AgentStatus.ACTIVE, now=LATER) is before
    assert update_agent(before, now=LATER) is before


def test_an_update_to_an_invalid_name_is_refused() -> None:
    before = live()

    with pytest.raises(InvalidAgent):
        update_agent(before, name="   ", now=LATER)


def test_a_deleted_agent_takes_no_update_not_even_an_empty_one() -> None:
    deleted = set_status(live(), AgentStatus.DELETE, now=LATER)

    with pytest.raises(AgentDeleted):
        update_agent(deleted, name="Back", now=LATER)
    with pytest.raises(AgentDeleted):
        update_agent(deleted, status=AgentStatus.ACTIVE, now=LATER)
    with pytest.raises(AgentDeleted):
        update_agent(deleted, now=LATER)


@pytest.mark.parametrize("status", [AgentStatus.DEACTIVE, AgentStatus.DELETE])
def test_setting_a_new_status_changes_it_and_the_update_time(status: AgentStatus) -> None:
    changed = set_status(live(), status, now=LATER)

    assert (changed.status, changed.updated_at, changed.name) == (status, LATER, "Name")


def test_setting_the_status_an_agent_has_returns_it_unchanged() -> None:
    agent = live()
    deleted = set_status(agent, AgentStatus.DELETE, now=T0)

    assert set_status(agent, AgentStatus.ACTIVE, now=LATER) is agent
    assert set_status(deleted, AgentStatus.DELETE, now=LATER) is deleted


@pytest.mark.parametrize("status", [AgentStatus.ACTIVE, AgentStatus.DEACTIVE])
def test_a_deleted_agent_cannot_be_switched_on_or_off(status: AgentStatus) -> None:
    deleted = set_status(live(), AgentStatus.DELETE, now=T0)

    with pytest.raises(AgentDeleted):
        set_status(deleted, status, now=LATER)
