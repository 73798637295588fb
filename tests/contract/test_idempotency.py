import asyncio

import pytest

from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    ListAgents,
    create_agent,
    create_agent_with_blueprint,
    list_agents,
)
from application.blueprints import AddVersion, ListVersions, add_version, list_versions
from application.deps import Deps
from domain.errors import ConcurrentUpdate, IdempotencyKeyReused, Malformed
from domain.idempotency import TTL
from tests.contract.test_audit import agents_trail
from tests.samples import clock_of, shop_buddy, team

pytestmark = pytest.mark.anyio


async def test_a_retried_create_returns_the_first_answer_and_creates_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    ask = CreateAgent(name="Shop Buddy", idempotency_key="create-1")

    first = await create_agent(deps, acme.member, ask)
    clock_of(deps).advance(60)
    retry = await create_agent(deps, acme.member, ask)

    assert retry == first
    assert [a.id for a in (await list_agents(deps, acme.member, ListAgents())).items] == [first.id]
    assert len(await agents_trail(deps, acme.owner)) == 1


async def test_a_retried_create_with_blueprint_and_a_retried_version_create_nothing_more(deps: Deps) -> None:
    acme = await team(deps, "acme")
    made = CreateAgentWithBlueprint(name="Shop Buddy", agent_blueprint=shop_buddy(), idempotency_key="k1")
    first = await create_agent_with_blueprint(deps, acme.member, made)
    assert await create_agent_with_blueprint(deps, acme.member, made) == first

    version = AddVersion(agent_id=first.agent.id, agent_blueprint=shop_buddy("v2"), idempotency_key="k2")
    v2 = await add_version(deps, acme.member, version)
    assert await add_version(deps, acme.member, version) == v2

    listed = await list_versions(deps, acme.member, ListVersions(agent_id=first.agent.id))
    assert [v.version for v in listed.items] == [2, 1]


async def test_the_same_key_for_a_different_request_is_refused_and_creates_nothing(deps: Deps) -> None:
    acme = await team(deps, "acme")
    await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", idempotency_key="same"))

    with pytest.raises(IdempotencyKeyReused) as raised:
        await create_agent(deps, acme.member, CreateAgent(name="Other", idempotency_key="same"))

    assert [v.field for v in raised.value.violations] == ["Idempotency-Key"]
    assert len((await list_agents(deps, acme.member, ListAgents())).items) == 1


async def test_the_key_order_of_a_blueprint_does_not_make_it_a_different_request(deps: Deps) -> None:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    doc = shop_buddy()
    reordered = dict(reversed(list(doc.items())))

    first = await add_version(
        deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=doc, idempotency_key="k")
    )
    again = await add_version(
        deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=reordered, idempotency_key="k")
    )

    assert again == first


async def test_a_key_is_forgotten_after_its_time_and_then_creates_anew(deps: Deps) -> None:
    acme = await team(deps, "acme")
    ask = CreateAgent(name="Shop Buddy", idempotency_key="old")
    first = await create_agent(deps, acme.member, ask)

    clock_of(deps).advance(TTL.total_seconds() + 1)
    later = await create_agent(deps, acme.member, ask)

    assert later.id != first.id
    assert await create_agent(deps, acme.member, ask) == later  # and the new answer is the one kept


async def test_keys_belong_to_one_organization(deps: Deps) -> None:
    acme, globex = await team(deps, "acme"), await team(deps, "globex")

    mine = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", idempotency_key="shared"))
    theirs = await create_agent(deps, globex.member, CreateAgent(name="Shop Buddy", idempotency_key="shared"))

    assert theirs.id != mine.id
    assert theirs.org_id == globex.member.org_id


@pytest.mark.parametrize("key", ["", " ", "k" * 256, "tab\there", "é"])
async def test_an_unusable_key_is_malformed(deps: Deps, key: str) -> None:
    acme = await team(deps, "acme")

    with pytest.raises(Malformed) as raised:
        await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy", idempotency_key=key))

    assert raised.value.field == "Idempotency-Key"


async def test_concurrent_requests_with_one_key_create_one_agent(deps: Deps) -> None:
    acme = await team(deps, "acme")
    ask = CreateAgent(name="Shop Buddy", idempotency_key="racing")

    outcomes = await asyncio.gather(*(create_agent(deps, acme.member, ask) for _ in range(8)), return_exceptions=True)

    created = {o.id for o in outcomes if not isinstance(o, BaseException)}
    assert len(created) == 1
    assert all(isinstance(o, ConcurrentUpdate) for o in outcomes if isinstance(o, BaseException))
    assert [a.id for a in (await list_agents(deps, acme.member, ListAgents())).items] == list(created)
