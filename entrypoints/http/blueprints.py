"""Blueprint versions over HTTP: write, read, compile, activate, and the live prompt LLM runtimes fetch."""

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example, Schema
from litestar.params import FromPath, FromQuery, Parameter

from application.blueprints import (
    MAX_PAGE_BYTES,
    MAX_WAIT_S,
    ActivateVersion,
    AddVersion,
    CompileVersion,
    GetLivePrompt,
    GetVersion,
    ListCompiledVersions,
    ListVersions,
    WatchLivePrompt,
    activate_version,
    add_version,
    compile_version,
    get_live_prompt,
    get_version,
    list_compiled_versions,
    list_versions,
    watch_live_prompt,
)
from application.deps import Deps
from domain.blueprints import MAX_CONVERSATION_ID
from domain.labels import LATEST, MAX_NAME, NAME_PATTERN, PRODUCTION
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.live_prompt import Answered, RenderedAnswers, answer, still_current
from entrypoints.http.params import (
    VERSION_EXAMPLE,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    agent_response,
    answer_options,
    ensure_single,
    etag_header,
    if_match_tags,
    strict_body,
)
from entrypoints.http.schemas import (
    MAX_BLUEPRINT_BYTES,
    NO_NUL,
    AgentOut,
    BlueprintOut,
    BlueprintPage,
    CompilationStatusOut,
    CompileOut,
    LivePromptOut,
    VersionCreate,
    ViolationOut,
    blueprint_page,
    to_out,
)

Conversation = Annotated[
    str | None,
    Parameter(min_length=1, max_length=MAX_CONVERSATION_ID, description="only versions of it", schema_extra=NO_NUL),
]
Include = Annotated[
    Literal["document"] | None,
    Parameter(description="document: each version with its document, prompt and compiler output, as many as "
              f"{MAX_PAGE_BYTES // 1024 // 1024} MiB of them hold (at least one); the next page starts after the last")
]  # fmt: skip
LabelQuery = Annotated[
    str,
    Parameter(pattern=NAME_PATTERN, max_length=MAX_NAME, description="production (the active version), latest, or "
              "any label of the agent", examples=[Example(value="staging")]),
]  # fmt: skip
LabelToMove = Annotated[
    str | None,
    Parameter(pattern=NAME_PATTERN, max_length=MAX_NAME, description="move this label to the version once compiled "
              "(by its protection, as PUT …/labels/{name}; not `latest`, which is read-only: 422); not with "
              "`activate=true`, which moves production (400)", examples=[Example(value="staging")],
              schema_extra={"not": Schema(const=LATEST)}),
]  # fmt: skip
Wait = Annotated[
    int | None,
    Parameter(ge=1, le=MAX_WAIT_S, description="with If-None-Match: hold the request up to this many seconds while "
              "the label still names that version; answered 200 the moment it moves, 304 at the timeout",
              examples=[Example(value=30)]),
]  # fmt: skip


class BlueprintController(Controller):
    path = "/org-agents/{agent_id:uuid}"
    before_request = staticmethod(answer_options)
    tags = ("blueprints",)

    @post(
        "/blueprints",
        operation_id="createBlueprint",
        responses=PROBLEMS,
        status_code=201,
        request_max_body_size=MAX_BLUEPRINT_BYTES,
    )
    async def create_version(
        self,
        agent_id: FromPath[UUID],
        data: Annotated[VersionCreate, strict_body(Example(summary="Shop Buddy", value=VERSION_EXAMPLE))],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[BlueprintOut]:
        """Save a blueprint as the agent's next version, a draft, with an optional change note (`message`). Any
        role; a deleted agent takes none (409). Idempotent with an Idempotency-Key."""
        version = await add_version(
            deps, principal,
            AddVersion(agent_id=agent_id, agent_blueprint=data.agent_blueprint, conversation_id=data.conversation_id,
                       message=data.message, idempotency_key=idempotency_key),
        )  # fmt: skip
        return Response(
            to_out(version, BlueprintOut),
            status_code=201,
            headers={"Location": f"/org-agents/{agent_id}/blueprints/{version.id}"},
        )

    @get("/blueprints", operation_id="listBlueprints", responses=PROBLEMS)
    async def list_versions(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
        conversation_id: Conversation = None,
        include: Include = None,
    ) -> BlueprintPage:
        """The agent's versions, newest first, optionally only those of one conversation: summaries (sizes, not
        documents), unless `include=document`. One version whole is `GET …/blueprints/{id}`."""
        page = await list_versions(
            deps, principal,
            ListVersions(agent_id=agent_id, limit=limit, cursor=cursor, conversation_id=conversation_id,
                         documents=include is not None),
        )  # fmt: skip
        return blueprint_page(page)

    @get("/blueprints/{version_id:uuid}", operation_id="getBlueprint", responses=PROBLEMS)
    async def get_version(
        self,
        agent_id: FromPath[UUID],
        version_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> BlueprintOut:
        """One version of the agent, document and compilation included."""
        return to_out(
            await get_version(deps, principal, GetVersion(agent_id=agent_id, version_id=version_id)), BlueprintOut
        )

    @post("/blueprints/{version_id:uuid}/compile", operation_id="compileBlueprint", responses=PROBLEMS, status_code=200)
    async def compile_version(
        self,
        agent_id: FromPath[UUID],
        version_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        activate: FromQuery[bool] = False,
        label: LabelToMove = None,
        if_match: IfMatch = None,
    ) -> Response[CompileOut]:
        """Compile the version into its system prompt. Owner or admin. An invalid blueprint is recorded `failed` and
        answered 422 with every violation; a compiled one returns its stored result. `?activate=true` also makes a
        successful compile the active version, production (If-Match, when sent, must then hold for the agent);
        `?label=NAME` moves that label instead (If-Match: the label's ETag). The ETag is the agent's."""
        ensure_single(request, "label")
        done = await compile_version(
            deps, principal,
            CompileVersion(agent_id=agent_id, version_id=version_id, activate=activate, label=label,
                           if_match=if_match_tags(if_match)),
        )  # fmt: skip
        out = CompileOut(
            blueprint=to_out(done.blueprint, BlueprintOut),
            compilation_status=done.blueprint.compilation_status,
            compiled_system_prompt=done.blueprint.compiled_system_prompt,
            warnings=[to_out(w, ViolationOut) for w in done.warnings],
            message=done.message,
            label=done.label,
        )
        return Response(out, headers=etag_header(done.agent))

    @get("/blueprints/{version_id:uuid}/compilation-status", operation_id="getCompilationStatus", responses=PROBLEMS)
    async def get_compilation_status(
        self,
        agent_id: FromPath[UUID],
        version_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> CompilationStatusOut:
        """Where the version stands: draft, compiled (when, by whom) or failed (with its violations)."""
        version = await get_version(deps, principal, GetVersion(agent_id=agent_id, version_id=version_id))
        return CompilationStatusOut(
            status=version.compilation_status,
            compiled_at=version.compiled_at,
            compiled_by=version.compiled_by,
            errors=None
            if version.compile_errors is None
            else [to_out(v, ViolationOut) for v in version.compile_errors],
            compiler_version=version.compiler_version,
        )

    @post(
        "/blueprints/{version_id:uuid}/activate", operation_id="activateBlueprint", responses=PROBLEMS, status_code=200
    )
    async def activate_version(
        self,
        agent_id: FromPath[UUID],
        version_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: IfMatch = None,
    ) -> Response[AgentOut]:
        """Make a compiled version the live one (409 unless compiled); an older one is the rollback. Owner or admin.
        With If-Match (the agent's ETag), 412 when the agent changed since it was read."""
        agent = await activate_version(
            deps, principal,
            ActivateVersion(agent_id=agent_id, version_id=version_id, if_match=if_match_tags(if_match)),
        )  # fmt: skip
        return agent_response(agent)

    @get("/compiled-blueprints", operation_id="listCompiledBlueprints", responses=PROBLEMS)
    async def list_compiled(
        self,
        agent_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
        include: Include = None,
    ) -> BlueprintPage:
        """The agent's compiled versions, newest first: what can be activated or rolled back to. Summaries, as
        `GET …/blueprints` gives them, unless `include=document`."""
        page = await list_compiled_versions(
            deps, principal,
            ListCompiledVersions(agent_id=agent_id, limit=limit, cursor=cursor, documents=include is not None),
        )  # fmt: skip
        return blueprint_page(page)

    @get(
        "/prompt",
        operation_id="getLivePrompt",
        responses={**PROBLEMS, 304: ResponseSpec(data_container=None, description="Unchanged since the ETag sent")},
        response_headers=[
            ResponseHeader(name="ETag", documentation_only=True, description="the live version's identity"),
        ],
    )
    async def live_prompt(
        self,
        agent_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        label: LabelQuery = PRODUCTION,
        wait: Wait = None,
    ) -> Response[LivePromptOut]:
        """The live prompt: the compiled version a label of an active agent names (production, the active version,
        by default), with an ETag; `If-None-Match` with that ETag is answered 304 with no body. 404 when nothing is
        live or the label is unknown. The LLM runtime's hot path: when the live cache holds the token and the
        prompt, entrypoints/http/hot_path.py sends this same answer before the request is routed.

        With `wait` and `If-None-Match`, a watch: held while the label still names the version you have, answered
        the moment it moves (from any instance) or the agent stops serving, and 304 at the timeout. Answered at
        once when the instance's change feed is down or it holds its maximum of watches (ORG_AGENTS_MAX_WATCHERS)."""
        ensure_single(request, "label")
        if_none_match = request.headers.get("if-none-match")
        if wait is not None and if_none_match:
            live = await watch_live_prompt(
                deps, principal, WatchLivePrompt(agent_id=agent_id, label=label, wait_s=wait),
                still_current(if_none_match),
            )  # fmt: skip
        else:
            live = await get_live_prompt(deps, principal, GetLivePrompt(agent_id=agent_id, label=label))
        rendered: RenderedAnswers = request.app.state.rendered
        return Answered(*answer(rendered.of(live), if_none_match))
