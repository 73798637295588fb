"""Reading the audit trail, the use cases' own rules: who may, and which filters, pages and cursors are well formed.
(What the trail holds, and how it is filtered and paged, is the contract suite's: tests/contract/test_audit.py.)"""

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.agents import CreateAgent, create_agent
from application.audit import (
    MAX_ACTOR,
    ListAgentAuditEvents,
    ListAuditEvents,
    list_agent_audit_events,
    list_audit_events,
)
from application.deps import Deps
from application.pagination import AgentKey, AuditKey, encode_cursor
from domain.audit import Action
from domain.errors import AgentNotFound, Malformed, RoleTooLow, ScopeTooNarrow
from domain.roles import Principal, Role, Scope
from entrypoints.bootstrap import memory_deps
from tests.doubles import T0, FixedClock, SequentialIds
from tests.samples import team

pytestmark = pytest.mark.anyio

NAIVE = datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 - the point: a time without a zone


@pytest.fixture
def deps() -> Deps:
    return memory_deps(clock=FixedClock(), ids=SequentialIds())


BAD_FILTERS: list[tuple[dict[str, Any], str]] = [
    ({"action": "label.moved"}, "action"),
    ({"action": ""}, "action"),
    ({"action": "Label.Move"}, "action"),
    ({"actor": ""}, "actor"),
    ({"actor": "a" * (MAX_ACTOR + 1)}, "actor"),
    ({"actor": "ana\x00"}, "actor"),
    ({"since": NAIVE}, "since"),
    ({"until": NAIVE}, "until"),
    ({"since": T0 + timedelta(microseconds=1), "until": T0}, "since"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"cursor": "not a cursor"}, "cursor"),
    ({"cursor": encode_cursor(AuditKey(occurred_at=T0, id=uuid.UUID(int=1)))[:-2]}, "cursor"),
]


@pytest.mark.parametrize(("filters", "field"), BAD_FILTERS, ids=[f"{f} {v!r}" for v, f in BAD_FILTERS])
async def test_a_bad_filter_page_or_cursor_is_malformed_naming_its_field(
    deps: Deps, filters: dict[str, Any], field: str
) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(Malformed) as refused:
        await list_audit_events(deps, acme.owner, ListAuditEvents(**filters))

    assert refused.value.field == field


@pytest.mark.parametrize("action", list(Action))
async def test_every_known_action_is_a_filter(deps: Deps, action: Action) -> None:
    acme = await team(deps, "acme")

    page = await list_audit_events(deps, acme.admin, ListAuditEvents(action=action.value))

    assert all(event.action is action for event in page.items)


@given(hours=st.integers(min_value=-23, max_value=23), minutes=st.sampled_from([0, 30, 45]))
async def test_a_time_with_any_offset_is_taken_and_an_empty_range_is_allowed(hours: int, minutes: int) -> None:
    deps = memory_deps(clock=FixedClock(), ids=SequentialIds())
    acme = await team(deps, "acme")  # three token events at T0
    offset = timezone(timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes))

    at_t0 = await list_audit_events(deps, acme.owner, ListAuditEvents(since=T0.astimezone(offset)))
    empty = await list_audit_events(deps, acme.owner, ListAuditEvents(since=T0, until=T0.astimezone(offset)))

    assert len(at_t0.items) == 3
    assert empty.items == []


async def test_the_role_is_checked_before_the_filters(deps: Deps) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(RoleTooLow):
        await list_audit_events(deps, acme.member, ListAuditEvents(action="nonsense", limit=0))


async def test_a_prompt_scope_key_reads_no_trail_whatever_its_role(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    runtime = Principal(org_id=acme.owner.org_id, user_id="runtime", role=Role.OWNER, scope=Scope.PROMPT)

    with pytest.raises(ScopeTooNarrow):
        await list_audit_events(deps, runtime, ListAuditEvents())
    with pytest.raises(ScopeTooNarrow):
        await list_agent_audit_events(deps, runtime, ListAgentAuditEvents(agent_id=agent.id))


async def test_an_agents_history_checks_its_page_and_cursor_and_needs_a_known_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    agents_cursor = encode_cursor(AgentKey(created_at=T0, id=agent.id))  # of another list

    for cmd, field in [
        (ListAgentAuditEvents(agent_id=agent.id, limit=0), "limit"),
        (ListAgentAuditEvents(agent_id=agent.id, cursor="zzz"), "cursor"),
        (ListAgentAuditEvents(agent_id=agent.id, cursor=agents_cursor), "cursor"),
    ]:
        with pytest.raises(Malformed) as refused:
            await list_agent_audit_events(deps, acme.member, cmd)
        assert refused.value.field == field
    with pytest.raises(AgentNotFound):
        await list_agent_audit_events(deps, acme.member, ListAgentAuditEvents(agent_id=uuid.UUID(int=2**100)))


async def test_a_cursor_is_a_position_not_a_filter_so_it_outlives_a_change_of_filters(deps: Deps) -> None:
    acme = await team(deps, "acme")
    for name in ("a", "b", "c"):
        await create_agent(deps, acme.member, CreateAgent(name=name))
    first = await list_audit_events(deps, acme.owner, ListAuditEvents(limit=1))
    assert first.next_cursor is not None

    rest = await list_audit_events(deps, acme.owner, ListAuditEvents(action="agent.create", cursor=first.next_cursor))

    assert [e.details["name"] for e in first.items] == ["c"]
    assert [e.details["name"] for e in rest.items] == ["b", "a"]
