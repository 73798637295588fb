"""Agents over HTTP: thin handlers that parse, call one use case and shape the answer."""

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath, FromQuery
from msgspec import UnsetType

from application.agents import (
    CreateAgent,
    CreateAgentWithBlueprint,
    GetAgent,
    ListAgents,
    SearchAgents,
    SetStatus,
    UpdateAgent,
    activate_agent,
    create_agent,
    create_agent_with_blueprint,
    deactivate_agent,
    delete_agent,
    get_agent,
    list_agents,
    search_agents,
    update_agent,
)
from application.blueprints import GetCompilationStats, get_compilation_stats
from application.deps import Deps
from domain.agents import AgentStatus
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.params import (
    AGENT_EXAMPLE,
    AGENT_WITH_BLUEPRINT_EXAMPLE,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    agent_response,
    answer_options,
    etag_header,
    if_match_tags,
    strict_body,
)
from entrypoints.http.schemas import (
    MAX_BLUEPRINT_BYTES,
    AgentCreate,
    AgentDetailOut,
    AgentOut,
    AgentPage,
    AgentSearch,
    AgentSearchOut,
    AgentUpdate,
    AgentWithBlueprintCreate,
    AgentWithBlueprintOut,
    StatsOut,
    to_out,
)


def _update(agent_id: UUID, data: AgentUpdate, if_match: str | None) -> UpdateAgent:
    return UpdateAgent(
        agent_id=agent_id,
        if_match=if_match_tags(if_match),
        name=None if isinstance(data.name, UnsetType) else data.name,
        description=None if isinstance(data.description, UnsetType) else data.description,
        clear_description=data.description is None,
        status=None if isinstance(data.status, UnsetType) else data.status,
    )


class AgentController(Controller):
    path = "/org-agents"
    before_request = staticmethod(answer_options)
    tags = ("agents",)

    @post(operation_id="createAgent", responses=PROBLEMS, status_code=201)
    async def create_agent(
        self,
        data: Annotated[AgentCreate, strict_body(Example(summary="Shop Buddy", value=AGENT_EXAMPLE))],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[AgentOut]:
        """Create an agent with no blueprint yet. Any role. Idempotent with an Idempotency-Key."""
        agent = await create_agent(
            deps, principal,
            CreateAgent(name=data.name, description=data.description, idempotency_key=idempotency_key),
        )  # fmt: skip
        return agent_response(agent, 201, Location=f"/org-agents/{agent.id}")

    @post("/with-blueprint", operation_id="createAgentWithBlueprint", responses=PROBLEMS, status_code=201,
          request_max_body_size=MAX_BLUEPRINT_BYTES)  # fmt: skip
    async def create_agent_with_blueprint(
        self,
        data: Annotated[
            AgentWithBlueprintCreate, strict_body(Example(summary="Shop Buddy", value=AGENT_WITH_BLUEPRINT_EXAMPLE))
        ],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[AgentWithBlueprintOut]:
        """Create an agent and its version 1 (a draft) in one step: both or neither. Any role. Idempotent with an
        Idempotency-Key."""
        made = await create_agent_with_blueprint(
            deps, principal,
            CreateAgentWithBlueprint(name=data.name, description=data.description,
                                     agent_blueprint=data.agent_blueprint, conversation_id=data.conversation_id,
                                     message=data.message, idempotency_key=idempotency_key),
        )  # fmt: skip
        return Response(
            to_out(made, AgentWithBlueprintOut),
            status_code=201,
            headers={"Location": f"/org-agents/{made.agent.id}"},
        )

    @get(operation_id="listAgents", responses=PROBLEMS)
    async def list_agents(
        self,
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        status: FromQuery[AgentStatus | None] = None,
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> AgentPage:
        """The organization's agents, newest first; deleted ones only with `status=delete`."""
        page = await list_agents(deps, principal, ListAgents(status=status, limit=limit, cursor=cursor))
        return to_out(page, AgentPage)

    @post("/search", operation_id="searchAgents", responses=PROBLEMS, status_code=200)
    async def search_agents(
        self,
        data: Annotated[AgentSearch, strict_body()],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> AgentSearchOut:
        """Agents whose name contains `query`, ignoring case, newest first; deleted agents are left out."""
        found = await search_agents(deps, principal, SearchAgents(query=data.query, limit=data.limit))
        return AgentSearchOut(items=[to_out(agent, AgentOut) for agent in found])

    @get("/compilation-stats", operation_id="getCompilationStats", responses=PROBLEMS)
    async def get_stats(self, deps: NamedDependency[Deps], principal: NamedDependency[Principal]) -> StatsOut:
        """Versions of the organization's agents by compilation status (deleted agents not counted)."""
        return to_out(await get_compilation_stats(deps, principal, GetCompilationStats()), StatsOut)

    @get("/{agent_id:uuid}", operation_id="getAgent", responses=PROBLEMS)
    async def get_agent(
        self, agent_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> Response[AgentDetailOut]:
        """An agent with its active version (`blueprint`) and its newest version (`latest_blueprint`). The ETag
        is the agent's: send it back as If-Match when changing the agent."""
        detail = await get_agent(deps, principal, GetAgent(agent_id=agent_id))
        return Response(to_out(detail, AgentDetailOut), headers=etag_header(detail.agent))

    @put("/{agent_id:uuid}", operation_id="replaceAgent", responses=PROBLEMS)
    async def replace_agent(
        self,
        agent_id: FromPath[UUID],
        data: Annotated[AgentUpdate, strict_body()],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> Response[AgentOut]:
        """Change name, description or status (the fields sent). Owner or admin; a deleted agent is frozen (409);
        with If-Match, 412 when the agent changed since it was read."""
        return agent_response(await update_agent(deps, principal, _update(agent_id, data, if_match)))

    @patch("/{agent_id:uuid}", operation_id="updateAgent", responses=PROBLEMS)
    async def update_agent(
        self,
        agent_id: FromPath[UUID],
        data: Annotated[AgentUpdate, strict_body()],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> Response[AgentOut]:
        """Change name, description or status (the fields sent). Owner or admin; a deleted agent is frozen (409);
        with If-Match, 412 when the agent changed since it was read."""
        return agent_response(await update_agent(deps, principal, _update(agent_id, data, if_match)))

    @delete("/{agent_id:uuid}", operation_id="deleteAgent", responses=PROBLEMS, status_code=204)
    async def delete_agent(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> None:
        """Soft delete: the agent stays readable, frozen, and serves no prompt. Owner or admin; idempotent."""
        await delete_agent(deps, principal, SetStatus(agent_id=agent_id, if_match=if_match_tags(if_match)))

    @post("/{agent_id:uuid}/activate", operation_id="activateAgent", responses=PROBLEMS, status_code=200)
    async def activate_agent(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> Response[AgentOut]:
        """Switch the agent on: its active version's prompt is served again. Owner or admin."""
        return agent_response(
            await activate_agent(deps, principal, SetStatus(agent_id=agent_id, if_match=if_match_tags(if_match)))
        )

    @post("/{agent_id:uuid}/deactivate", operation_id="deactivateAgent", responses=PROBLEMS, status_code=200)
    async def deactivate_agent(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> Response[AgentOut]:
        """Switch the agent off: it keeps its versions but serves no prompt. Owner or admin."""
        return agent_response(
            await deactivate_agent(deps, principal, SetStatus(agent_id=agent_id, if_match=if_match_tags(if_match)))
        )
