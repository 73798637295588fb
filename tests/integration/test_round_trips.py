"""How many times each use case waits for PostgreSQL: its round trips, counted on the wire by a proxy between the
pool and the server. A round trip is a turn of the conversation: the client sends, then the server answers; bytes in
several segments in one direction are one turn. A writer holds an agent's row lock from the round trip that takes
it to the one that commits, and every round trip costs a request its latency and the service's CPU a wake-up: each
number here is the fewest the use case can make as written (BENCHMARKS.md, "Writes")."""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from application.agents import CreateAgent, GetAgent, ListAgents, create_agent, get_agent, list_agents
from application.blueprints import (
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetVersion,
    ListVersions,
    activate_version,
    add_version,
    compile_version,
    get_version,
    list_versions,
)
from application.deps import Deps
from application.labels import MoveLabel, move_label_to
from application.tokens import CreateToken, create_token
from domain.roles import Principal, Role
from entrypoints import bootstrap
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.doubles import FixedClock, SequentialIds

pytestmark = pytest.mark.anyio


class Turns:
    """A TCP proxy on loopback that counts the server's answers: each time bytes come back after the client sent."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.count = host, port, 0
        self._sent: set[int] = set()  # connections whose client spoke since the server last did
        self.handlers: set[asyncio.Task[None]] = set()  # one per connection, awaited before the loop ends
        self.writers: list[asyncio.StreamWriter] = []  # both ends of every connection, closed at the end

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (task := asyncio.current_task()) is not None:
            self.handlers.add(task)
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self.writers += [writer, upstream_writer]
        key = id(writer)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_client: bool) -> None:
            while data := await source.read(65536):
                if from_client:
                    self._sent.add(key)
                elif key in self._sent:
                    self._sent.discard(key)
                    self.count += 1
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(
            pump(reader, upstream_writer, True), pump(upstream_reader, writer, False), return_exceptions=True
        )


@pytest.fixture
async def counted(migrated_database: str, tmp_path: Path) -> AsyncIterator[tuple[Deps, Turns, Principal]]:
    params = conninfo_to_dict(migrated_database)
    turns = Turns(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    server = await asyncio.start_server(turns.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxied = make_conninfo(migrated_database, host="127.0.0.1", port=port)
    settings = Settings(database_url=proxied, data_dir=tmp_path)
    try:  # no change feed: its LISTEN connection's health checks would be round trips of no use case
        async with bootstrap.postgres_deps(
            settings, proxied, clock=FixedClock(), ids=SequentialIds(), follow_changes=False
        ) as deps:
            issued = await create_token(deps, CreateToken(org_name="acme", user_id="ana", role=Role.OWNER))
            yield deps, turns, Principal(org_id=issued.token.org_id, user_id="ana", role=Role.OWNER)
    finally:
        server.close()
        for end in turns.writers:  # the pool has closed its side; whatever is left open ends here
            end.close()
        await asyncio.wait_for(asyncio.gather(*turns.handlers, return_exceptions=True), 10)
        await server.wait_closed()


async def test_each_use_case_waits_for_the_server_as_few_times_as_it_can(
    counted: tuple[Deps, Turns, Principal],
) -> None:
    deps, turns, who = counted

    async def trips(call: Awaitable[object]) -> int:
        before = turns.count
        await call
        return turns.count - before

    agent = await create_agent(deps, who, CreateAgent(name="Shop Buddy"))
    first = await add_version(deps, who, AddVersion(agent_id=agent.id, agent_blueprint=shop_buddy()))
    counts = {
        # The agent's lock, its next number and the organization's usage; then the writes and COMMIT.
        "add a version": await trips(add_version(deps, who, AddVersion(agent_id=agent.id, agent_blueprint={}))),
        # The organization's usage, for the quota; the INSERT, whose answer is the agent's number; the rest, COMMIT.
        "create an agent": await trips(create_agent(deps, who, CreateAgent(name="Other"))),
        # The agent's row with its production version and its latest, in one statement.
        "get an agent": await trips(get_agent(deps, who, GetAgent(agent_id=agent.id))),
        "list agents": await trips(list_agents(deps, who, ListAgents())),
        # The agent's row and the page, in one statement; so are the agent and the version read.
        "list versions": await trips(list_versions(deps, who, ListVersions(agent_id=agent.id))),
        "get a version": await trips(get_version(deps, who, GetVersion(agent_id=agent.id, version_id=first.id))),
        # The agent's lock and the version; the compilation, its event and COMMIT.
        "compile": await trips(compile_version(deps, who, CompileVersion(agent_id=agent.id, version_id=first.id))),
        # The agent's lock and the version; production's label; the move, the agent, their events and COMMIT.
        "activate": await trips(activate_version(deps, who, ActivateVersion(agent_id=agent.id, version_id=first.id))),
        # The agent's lock and the version; the labels' last moves; the label itself; the move, its event, COMMIT.
        "move a label": await trips(
            move_label_to(deps, who, MoveLabel(agent_id=agent.id, name="staging", blueprint_id=first.id))
        ),
    }
    assert counts == {
        "add a version": 2,
        "create an agent": 3,
        "get an agent": 1,
        "list agents": 1,
        "list versions": 1,
        "get a version": 1,
        "compile": 2,
        "activate": 3,
        "move a label": 4,
    }
