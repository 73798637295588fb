"""bench/growth.py's logic that could silently give wrong numbers: the deep cursors point where they are meant to,
every request answers what its case expects (on the real app and the memory adapter), and the medians and ratios."""

from pathlib import Path
from typing import Final
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from application.agents import CreateAgent, create_agent
from application.blueprints import AddVersion, add_version
from application.tokens import CreateToken, create_token
from bench.growth import (
    BIG,
    MATCHES,
    SMALL,
    Case,
    Org,
    Result,
    agent_cursor,
    cases,
    deep_position,
    problem,
    table,
)
from bench.wrk import Errors, Run
from domain.roles import Principal, Role
from entrypoints.bootstrap import memory_deps
from entrypoints.http.app import create_app
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.doubles import FixedClock

pytestmark = pytest.mark.anyio

NO_ID: Final = UUID(int=0)
AGENTS: Final = 40  # and the agent with versions: the deep page is a whole page, 21 agents in


def test_the_deep_page_is_99_000_agents_into_the_big_organization_and_a_whole_page_in_the_small_one() -> None:
    assert deep_position(BIG.agents) == 99_000
    assert SMALL.agents + 1 - deep_position(SMALL.agents) == 20  # the agents after the cursor: one page
    assert deep_position(AGENTS) == 21


async def _org(versions: int) -> tuple[Org, AsyncTestClient[Litestar]]:
    """An organization as growth.seed makes it, through the use cases: AGENTS agents, every AGENTS / MATCHES-th named
    for HIT, one second apart, and, newest, the agent with `versions` versions."""
    clock = FixedClock()
    deps = memory_deps(clock=clock)
    made = await create_token(deps, CreateToken(org_name="growth", user_id="owner", role=Role.OWNER))
    who = Principal(org_id=made.token.org_id, user_id="owner", role=Role.OWNER)
    listed = []
    for n in range(AGENTS, 0, -1):  # agent n was created n seconds before the agent with versions
        name = f"Shop Buddy {n}" if n % (AGENTS // MATCHES) == 0 else f"Support agent {n}"
        listed.append(await create_agent(deps, who, CreateAgent(name=name)))
        clock.advance()
    agent = await create_agent(deps, who, CreateAgent(name="Release notes writer"))
    for _ in range(versions):
        await add_version(deps, who, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    newest_first = sorted([*listed, agent], key=lambda a: (a.created_at, a.id), reverse=True)  # growth.AGENT_AT
    position = deep_position(AGENTS)
    at = newest_first[position - 1]
    org = Org(size="test", agents=AGENTS, versions=versions, org_id=who.org_id, agent_id=agent.id, token=made.secret,
              deep_position=position, deep_cursor=agent_cursor(at.created_at, at.id),
              after_deep=newest_first[position].id)  # fmt: skip
    app = create_app(Settings(database_url=None, data_dir=Path("/nonexistent")), deps)
    return org, AsyncTestClient(app)


@pytest.mark.parametrize("versions", [SMALL.versions, 120])
async def test_every_case_answers_what_it_expects_the_deep_pages_starting_where_their_cursors_point(
    versions: int,
) -> None:
    org, client = await _org(versions)
    headers = {"Authorization": f"Bearer {org.token}"}

    async with client:
        for case in cases(org):
            answer = await client.request("POST" if case.body else "GET", case.path, headers=headers,
                                          content=case.body)  # fmt: skip
            assert problem(case, answer.status_code, answer.json()) is None, case.name


def test_an_answer_other_than_the_one_meant_is_a_problem() -> None:
    deep = Case("agents, deep page", "/org-agents", items=2, first=("id", "b"))
    search = Case("search", "/org-agents/search", b"{}", items=MATCHES)

    assert problem(deep, 200, {"items": [{"id": "b"}, {"id": "c"}]}) is None
    assert (
        problem(deep, 200, {"items": [{"id": "a"}, {"id": "b"}]})
        == "agents, deep page: the first item's id is 'a', not 'b'"
    )
    assert problem(deep, 200, {"items": [{"id": "b"}]}) == "agents, deep page: 1 items, not 2"
    assert problem(search, 200, {"items": []}) == f"search: 0 items, not {MATCHES}"
    assert problem(search, 422, {"title": "x"}) == "search: 422 {'title': 'x'}"
    assert problem(Case("stats", "/org-agents/compilation-stats"), 200, {"total_blueprints": 3}) is None


def _run(per_s: int, p50_ms: float, p99_ms: float) -> Run:
    return Run(requests=per_s * 5, duration_us=5_000_000, p50_us=int(p50_ms * 1000), p99_us=int(p99_ms * 1000),
               errors=Errors(0, 0, 0, 0, 0), statuses={})  # fmt: skip


def test_the_table_gives_each_sizes_medians_and_big_over_small() -> None:
    small = Result(
        case="search", size="small", path="/", runs=[_run(900, 9, 90), _run(1000, 10, 100), _run(5000, 1, 9)]
    )
    big = Result(case="search", size="big", path="/", runs=[_run(250, 40, 200), _run(100, 60, 400), _run(200, 50, 300)])
    orgs = [
        Org(size="small", agents=1_000, versions=10, org_id=NO_ID, agent_id=NO_ID, token="", deep_position=1,
            deep_cursor="", after_deep=NO_ID),
        Org(size="big", agents=100_000, versions=100_000, org_id=NO_ID, agent_id=NO_ID, token="",
            deep_position=1, deep_cursor="", after_deep=NO_ID),
    ]  # fmt: skip

    rows = table([small, big], orgs).splitlines()

    assert (small.per_s, small.p50_ms, small.p99_ms) == (1000, 9, 90)
    assert rows[2] == "| search | 1,000, 9.0 ms, 90.0 ms | 200, 50.0 ms, 300.0 ms | 0.20 | 3.33 |"
