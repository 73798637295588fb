"""Release labels over HTTP: list, read, move (promote, roll back), protect, delete, history. The rules are in
domain/labels.py; production is the agent's active version."""

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.openapi.spec import Example, Schema
from litestar.params import FromPath, HeaderParameter, Parameter, ParameterKwarg

from application.deps import Deps
from application.labels import (
    DeleteLabel,
    GetLabel,
    LabelHistory,
    ListLabels,
    MoveLabel,
    ProtectLabel,
    delete_label,
    get_label,
    label_history,
    list_labels,
    move_label_to,
    protect_label,
)
from domain.labels import LATEST, MAX_NAME, NAME_PATTERN, Label
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.live_prompt import etag_of
from entrypoints.http.params import Cursor, Limit, answer_options, if_match_tags, strict_body, strictly
from entrypoints.http.schemas import (
    LabelHistoryPage,
    LabelMoveIn,
    LabelOut,
    LabelProtectIn,
    LabelsOut,
    to_out,
)


def _label_name(description: str, **schema: object) -> ParameterKwarg:
    """A label's name in a path: the domain checks it (422, domain/labels.py); the bound only keeps absurd paths
    out (400)."""
    parameter: ParameterKwarg = Parameter(  # typed Any
        max_length=MAX_NAME + 64,
        description=f"production, staging, canary, …: {NAME_PATTERN}; {description}",
        examples=[Example(value="staging")],
        schema_extra={"pattern": NAME_PATTERN, **schema},
    )
    return parameter


LabelName = Annotated[str, _label_name("`latest` is the newest compiled version")]
# As LabelName, and `latest` is refused as invalid too (422).
WritableLabelName = Annotated[str, _label_name("not `latest`, which is read-only", **{"not": Schema(const=LATEST)})]
LabelIfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description='the label\'s ETag as you read it (its version id, quoted): 412 if it moved since; "*": it exists',
    ),
]
LabelIfNoneMatch = Annotated[
    Literal["*"] | None,
    HeaderParameter(
        name="If-None-Match",
        description='"*": create the label only if it does not exist yet (412 if it does): two people creating one '
        "label cannot both win",
    ),
]
MOVE_EXAMPLE: Final = {"blueprint_id": "0b9e3b8e-7a57-4c1f-9a0e-5d1f2f6c9a11"}
LABEL_ETAG: Final = [ResponseHeader(name="ETag", documentation_only=True, description="the version the label names")]


def label_response(label: Label) -> Response[LabelOut]:
    return Response(to_out(label, LabelOut), headers={"ETag": etag_of(label.blueprint_id)})


class LabelController(Controller):
    path = "/org-agents/{agent_id:uuid}/labels"
    before_request = staticmethod(answer_options)
    tags = ("labels",)

    @get("/", operation_id="listLabels", responses=PROBLEMS)
    async def list_labels(
        self, agent_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> LabelsOut:
        """Where the agent's versions are deployed: production (the active version), `latest` (the newest compiled
        version, read-only), then the others by name."""
        labels = await list_labels(deps, principal, ListLabels(agent_id=agent_id))
        return LabelsOut(items=[to_out(label, LabelOut) for label in labels])

    @get("/{name:str}", operation_id="getLabel", responses=PROBLEMS, response_headers=LABEL_ETAG)
    async def get_label(
        self,
        agent_id: FromPath[UUID],
        name: FromPath[LabelName],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> Response[LabelOut]:
        """One label, with its ETag (the version it names) for a later If-Match."""
        return label_response(await get_label(deps, principal, GetLabel(agent_id=agent_id, name=name)))

    @put("/{name:str}", operation_id="moveLabel", responses=PROBLEMS, response_headers=LABEL_ETAG)
    async def move_label(
        self,
        agent_id: FromPath[UUID],
        name: FromPath[WritableLabelName],
        data: Annotated[LabelMoveIn, strict_body(Example(summary="promote", value=MOVE_EXAMPLE))],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: LabelIfMatch = None,
        if_none_match: LabelIfNoneMatch = None,
    ) -> Response[LabelOut]:
        """Point the label at a compiled version (409 for a draft or failed one, or a deleted agent), creating it on
        its first move; moving it back is the rollback. Protected labels (production always) need owner or admin,
        others any role. Moving production activates the version. `latest` is read-only (422). With If-Match, 412
        unless the label still names that version; with `If-None-Match: *`, 412 if the label exists."""
        data = await strictly(request, LabelMoveIn)
        label = await move_label_to(
            deps, principal,
            MoveLabel(agent_id=agent_id, name=name, blueprint_id=data.blueprint_id, if_match=if_match_tags(if_match),
                      only_new=if_none_match == "*"),
        )  # fmt: skip
        return label_response(label)

    @patch("/{name:str}", operation_id="protectLabel", responses=PROBLEMS, response_headers=LABEL_ETAG)
    async def protect_label(
        self,
        agent_id: FromPath[UUID],
        name: FromPath[WritableLabelName],
        data: Annotated[LabelProtectIn, strict_body(Example(summary="protect", value={"protected": True}))],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> Response[LabelOut]:
        """Mark the label protected (only owners and admins move or delete it then) or not. Owner or admin;
        production is always protected (409 to unprotect it)."""
        data = await strictly(request, LabelProtectIn)
        label = await protect_label(
            deps, principal, ProtectLabel(agent_id=agent_id, name=name, protected=data.protected)
        )
        return label_response(label)

    @delete("/{name:str}", operation_id="deleteLabel", responses=PROBLEMS, status_code=204)
    async def delete_label(
        self,
        agent_id: FromPath[UUID],
        name: FromPath[WritableLabelName],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        if_match: LabelIfMatch = None,
    ) -> None:
        """Remove the label; its history stays. By protection, like a move; production cannot be deleted (409):
        deactivate the agent to stop serving it."""
        await delete_label(deps, principal, DeleteLabel(agent_id=agent_id, name=name, if_match=if_match_tags(if_match)))

    @get("/{name:str}/history", operation_id="getLabelHistory", responses=PROBLEMS)
    async def label_history(
        self,
        agent_id: FromPath[UUID],
        name: FromPath[WritableLabelName],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> LabelHistoryPage:
        """Every move of the label, newest first: who moved it, when, from which version to which (a deletion
        points nowhere)."""
        page = await label_history(
            deps, principal, LabelHistory(agent_id=agent_id, name=name, limit=limit, cursor=cursor)
        )
        return to_out(page, LabelHistoryPage)
