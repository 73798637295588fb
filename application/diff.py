"""Use case: what changed between two versions of an agent (domain/diff.py), sections and prompts."""

from uuid import UUID

import msgspec

from application.deps import Deps
from domain.blueprints import BlueprintVersion, CompilationStatus
from domain.compiler import compile_blueprint
from domain.diff import Change, document_diff, prompt_diff
from domain.roles import Principal, ensure_manage_scope


class DiffVersions(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    version_id: UUID
    from_id: UUID | None = None  # None: the version before (for version 1, the empty document)


class VersionRef(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    compilation_status: CompilationStatus  # a failed side has no prompt to compare
    message: str | None  # its change note


class VersionDiff(msgspec.Struct, frozen=True, kw_only=True):
    from_: VersionRef | None = msgspec.field(name="from")  # None: the empty document before version 1
    to: VersionRef
    changes: list[Change]
    prompt_diff: str | None  # None where either side does not compile


async def diff_versions(deps: Deps, who: Principal, cmd: DiffVersions) -> VersionDiff:
    """Any role. Both versions must be of the agent (BlueprintNotFound otherwise, also for another organization's).
    A draft's prompt is what it would compile to now; a failed version (or one that would fail) has none."""
    ensure_manage_scope(who)
    async with deps.uow(read_only=True) as uow:
        agent = await uow.agents.get(who.org_id, cmd.agent_id)
        to = await uow.versions.get(agent.id, cmd.version_id)
        if cmd.from_id is not None:
            start: BlueprintVersion | None = await uow.versions.get(agent.id, cmd.from_id)
        else:
            start = await uow.versions.latest(agent.id, before=to.version)
    changes = document_diff({} if start is None else start.agent_blueprint, to.agent_blueprint)
    made = prompt_diff(
        None if start is None else _prompt(start, agent.name), _prompt(to, agent.name),
        before_name="(nothing)" if start is None else f"version {start.version}", after_name=f"version {to.version}",
    )  # fmt: skip
    return VersionDiff(from_=None if start is None else _ref(start), to=_ref(to), changes=changes, prompt_diff=made)


def _ref(version: BlueprintVersion) -> VersionRef:
    return VersionRef(id=version.id, version=version.version, compilation_status=version.compilation_status,
                      message=version.message)  # fmt: skip


def _prompt(version: BlueprintVersion, agent_name: str) -> str | None:
    if version.compilation_status is CompilationStatus.COMPILED:
        return version.compiled_system_prompt
    if version.compilation_status is CompilationStatus.FAILED:
        return None
    return compile_blueprint(version.agent_blueprint, agent_name=agent_name).prompt  # as compile_version would
