"""What changed, over HTTP: the diff of two versions, and the dry run of a document before it is saved."""

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath, QueryParameter

from application.blueprints import PreviewBlueprint, preview_blueprint
from application.deps import Deps
from application.diff import DiffVersions, diff_versions
from domain.blueprints import CompilationStatus
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.params import PREVIEW_EXAMPLE, answer_options, strict_body
from entrypoints.http.schemas import MAX_BLUEPRINT_BYTES, DiffOut, PreviewIn, PreviewOut, ViolationOut, to_out


class DiffController(Controller):
    path = "/org-agents"
    before_request = staticmethod(answer_options)
    tags = ("blueprints",)

    @get("/{agent_id:uuid}/blueprints/{version_id:uuid}/diff", operation_id="diffBlueprints", responses=PROBLEMS)
    async def diff(
        self,
        agent_id: FromPath[UUID],
        version_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        from_: Annotated[
            UUID | None,
            QueryParameter(name="from", description="the version to compare with; the version before by default"),
        ] = None,
    ) -> DiffOut:
        """What changed from `from` (by default the version before; for version 1 the empty document) to this
        version: every changed leaf, named items matched by name (tools by `name`, capabilities by `task`,
        integrations by `app`, knowledge sources by `source`), and the unified diff of the two prompts (a draft's
        as it would compile; null where one does not compile). Any role."""
        made = await diff_versions(
            deps, principal, DiffVersions(agent_id=agent_id, version_id=version_id, from_id=from_)
        )
        return to_out(made, DiffOut)

    @post(
        "/blueprints/preview",
        operation_id="previewBlueprint",
        responses=PROBLEMS,
        status_code=200,
        request_max_body_size=MAX_BLUEPRINT_BYTES,
    )
    async def preview(
        self,
        data: Annotated[PreviewIn, strict_body(Example(summary="Shop Buddy", value=PREVIEW_EXAMPLE))],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> PreviewOut:
        """A dry run: exactly what compiling this document as a new version would record (status, prompt,
        warnings, every violation), and nothing is written. Any role. A document a save would refuse (a section of
        the wrong type) is refused the same way (422). With `agent_id`, it is checked as a version of that agent (an
        imported agent's old row takes its name from the agent)."""
        made = await preview_blueprint(
            deps, principal, PreviewBlueprint(agent_blueprint=data.agent_blueprint, agent_id=data.agent_id)
        )
        return PreviewOut(
            compilation_status=CompilationStatus.COMPILED if made.ok else CompilationStatus.FAILED,
            compiled_system_prompt=made.prompt,
            warnings=[to_out(w, ViolationOut) for w in made.warnings],
            errors=[to_out(v, ViolationOut) for v in made.violations],
        )
