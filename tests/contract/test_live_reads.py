"""Reads of the live prompt that miss the cache at the same moment share one database read (a label's watches all
wake together when it moves), and a read never outlives a change it started before. On every adapter."""

import asyncio
import dataclasses
from typing import Self, cast

import pytest

from application.agents import CreateAgent, create_agent
from application.blueprints import AddVersion, CompileVersion, GetLivePrompt, add_version, compile_version
from application.blueprints import get_live_prompt as fetch
from application.deps import Deps
from application.ports import TokenStore, UnitOfWork, UnitOfWorkFactory
from application.tokens import CreateToken, authenticate, create_token
from domain.errors import NoLivePrompt
from domain.roles import Principal, Role
from tests.contract.conftest import CountedTokens
from tests.samples import shop_buddy, team

pytestmark = pytest.mark.anyio


class CountedUnitOfWork:
    """The storage's own unit of work, counted as it is opened, and held at the door while `gate` is closed."""

    def __init__(self, inner: UnitOfWork, counter: "Counter") -> None:
        self._inner = inner
        self._counter = counter

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def __aenter__(self) -> Self:
        self._counter.opened += 1
        await self._counter.gate.wait()
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._inner.__aexit__(*exc_info)

    async def commit(self) -> None:
        await self._inner.commit()


class Counter:
    def __init__(self, make: UnitOfWorkFactory) -> None:
        self.opened = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self._make = make

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        return CountedUnitOfWork(self._make(read_only=read_only), self)  # type: ignore[return-value]  # a UnitOfWork by delegation


async def live_agent(deps: Deps) -> tuple[Deps, Counter, Principal, GetLivePrompt]:
    acme = await team(deps, "acme")
    agent = await create_agent(deps, acme.member, CreateAgent(name="Shop Buddy"))
    version = await add_version(deps, acme.member, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    await compile_version(deps, acme.admin, CompileVersion(agent_id=agent.id, version_id=version.id, activate=True))
    counter = Counter(deps.uow)
    return dataclasses.replace(deps, uow=counter), counter, acme.member, GetLivePrompt(agent_id=agent.id)


async def test_requests_that_miss_together_share_one_read(deps: Deps) -> None:
    counted, counter, who, ask = await live_agent(deps)
    counted.live.agent_changed(ask.agent_id)  # as a move does: the prompt is no longer cached
    counter.gate.clear()

    requests = [asyncio.ensure_future(fetch(counted, who, ask)) for _ in range(50)]
    await asyncio.sleep(0)  # every request has now missed the cache and found the one read in flight
    counter.gate.set()
    answers = await asyncio.gather(*requests)

    assert counter.opened == 1
    assert {answer.blueprint_id for answer in answers} == {answers[0].blueprint_id}


async def test_a_request_after_a_change_does_not_join_a_read_that_began_before_it(deps: Deps) -> None:
    counted, counter, who, ask = await live_agent(deps)
    counted.live.agent_changed(ask.agent_id)
    counter.gate.clear()
    first = asyncio.ensure_future(fetch(counted, who, ask))
    await asyncio.sleep(0)

    counted.live.agent_changed(ask.agent_id)  # a notice arrives while the first read is held
    second = asyncio.ensure_future(fetch(counted, who, ask))
    await asyncio.sleep(0)
    counter.gate.set()
    await asyncio.gather(first, second)

    assert counter.opened == 2


async def test_a_read_that_fails_fails_every_request_that_shared_it(deps: Deps) -> None:
    counted, counter, who, ask = await live_agent(deps)
    unknown = GetLivePrompt(agent_id=ask.agent_id, label="no-such-label")
    counter.gate.clear()

    requests = [asyncio.ensure_future(fetch(counted, who, unknown)) for _ in range(10)]
    await asyncio.sleep(0)
    counter.gate.set()
    outcomes = await asyncio.gather(*requests, return_exceptions=True)

    assert counter.opened == 1
    assert all(isinstance(outcome, NoLivePrompt) for outcome in outcomes)


async def test_requests_whose_token_is_not_cached_share_one_lookup(deps: Deps) -> None:
    issued = await create_token(deps, CreateToken(org_name="acme", user_id="ana", role=Role.OWNER))
    lookups = 0
    resolve = deps.tokens.resolve

    async def counted(secret_hash: bytes) -> Principal | None:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0)  # the lookup takes a turn of the loop, as a database round trip does
        return await resolve(secret_hash)

    deps.live.tokens_changed()  # nothing cached
    counted_deps = dataclasses.replace(deps, tokens=cast("TokenStore", CountedTokens(deps.tokens, counted)))
    answers = await asyncio.gather(*(authenticate(counted_deps, issued.secret) for _ in range(30)))

    assert lookups == 1
    assert {answer.user_id if answer else None for answer in answers} == {"ana"}
