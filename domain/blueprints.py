"""Blueprint versions: immutable documents, numbered per agent, compiled by a person, activated when compiled."""

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

import msgspec

from domain.agents import NO_NUL, NUL, Agent, ensure_live
from domain.compiler import CompilerOutput, compile_blueprint
from domain.document import shape_violations
from domain.errors import InvalidBlueprint, VersionNotCompiled, Violation

MAX_CONVERSATION_ID: Final = 255
MAX_MESSAGE: Final = 1_000  # a change note: what the author says changed, and why
CENT: Final = Decimal("0.01")
MAX_DEPTH: Final = 64  # containers inside containers; the known sections need 3
MAX_ITEMS: Final = 1_000  # items in any one array of a blueprint (capabilities, tools, examples, …)


class CompilationStatus(StrEnum):
    DRAFT = "draft"
    COMPILED = "compiled"
    FAILED = "failed"


class BlueprintVersion(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    agent_id: UUID
    version: int
    agent_blueprint: dict[str, Any]  # verbatim as written, unknown sections included; never changes
    created_by: str
    created_at: datetime
    conversation_id: str | None = None
    compilation_status: CompilationStatus = CompilationStatus.DRAFT
    compiled_system_prompt: str | None = None
    compiled_at: datetime | None = None
    compiled_by: str | None = None
    compile_errors: list[Violation] | None = None
    compiler_version: str | None = None
    message: str | None = None  # the change note written with it; part of the version, never changed
    compile_warnings: list[Violation] | None = None  # kept with the outcome; None before it was compiled (or stored)


class VersionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A version as lists show it: who wrote it, when, its note and status, and how large its document and prompt
    are, without either (they come with the version itself)."""

    id: UUID
    agent_id: UUID
    version: int
    created_by: str
    created_at: datetime
    conversation_id: str | None
    compilation_status: CompilationStatus
    compiled_at: datetime | None
    compiled_by: str | None
    compiler_version: str | None
    message: str | None
    blueprint_bytes: int  # the document's size in its stored text form (PostgreSQL's `agent_blueprint::text`)
    prompt_bytes: int | None  # the compiled prompt's size in UTF-8; None unless compiled


class CompileOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A version after a compile request, and what the compiler said about it."""

    version: BlueprintVersion
    warnings: list[Violation]
    changed: bool  # False when the version was already compiled and its stored result stands


def new_version(
    *,
    id: UUID,
    agent: Agent,
    number: int,
    document: object,
    created_by: str,
    conversation_id: str | None,
    now: datetime,
    message: str | None = None,
) -> BlueprintVersion:
    """A draft numbered `number` (the agent's next); the document is kept verbatim, its present sections must have
    the right types, and a deleted agent takes no new version. `message` is its change note."""
    ensure_live(agent)
    violations = saving_violations(document)
    if message is not None and len(message) > MAX_MESSAGE:
        violations.append(Violation(field="message", message=f"at most {MAX_MESSAGE} characters"))
    elif message is not None and NUL in message:
        violations.append(Violation(field="message", message=NO_NUL))
    if conversation_id is not None and not 0 < len(conversation_id) <= MAX_CONVERSATION_ID:
        violations.append(Violation(field="conversation_id", message=f"1 to {MAX_CONVERSATION_ID} characters"))
    elif conversation_id is not None and NUL in conversation_id:
        violations.append(Violation(field="conversation_id", message=NO_NUL))
    if violations or not isinstance(document, dict):
        raise InvalidBlueprint(violations)
    return BlueprintVersion(
        id=id,
        agent_id=agent.id,
        version=number,
        agent_blueprint=document,
        created_by=created_by,
        created_at=now,
        conversation_id=conversation_id,
        message=message,
    )


def saving_violations(document: object) -> list[Violation]:
    """Why a document cannot be saved as a version at all: a present section of the wrong type, or what storage
    cannot keep. A document without them may still fail to compile."""
    return shape_violations(document) + storage_violations(document)


def storage_violations(document: object) -> list[Violation]:
    """What storage cannot keep verbatim or the service will not take: U+0000 in any key or string (PostgreSQL's
    jsonb cannot hold it), nesting deeper than MAX_DEPTH (JSON libraries recurse; a blueprint needs a few levels),
    arrays of more than MAX_ITEMS items. The document is refused, never altered. Iterative: any depth is safe."""
    violations: list[Violation] = []
    pending: list[tuple[str, object, int]] = [("", document, 0)]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, str):
            if NUL in value:
                violations.append(Violation(field=path, message=NO_NUL))
        elif isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
            violations.append(Violation(field=path, message=f"nested deeper than {MAX_DEPTH} levels"))
        elif isinstance(value, Mapping):
            children = [(f"{path}.{key}" if path else str(key), item, depth + 1) for key, item in value.items()]
            violations += [Violation(field=child, message=NO_NUL) for child, _, _ in children if NUL in child]
            pending += reversed(children)
        elif isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
            violations.append(Violation(field=path, message=f"at most {MAX_ITEMS} items"))
        elif isinstance(value, list | tuple):
            pending += reversed([(f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value)])
    return violations


def preview(document: object, *, agent_name: str | None = None) -> CompilerOutput:
    """What compiling `document` as a new version would give, for a document that can be saved (InvalidBlueprint,
    as on a save, otherwise); `agent_name` as `compile_version` passes it, when the agent is known."""
    violations = saving_violations(document)
    if violations or not isinstance(document, dict):
        raise InvalidBlueprint(violations)
    return compile_blueprint(document, agent_name=agent_name)


def compile_version(agent: Agent, version: BlueprintVersion, *, by: str, now: datetime) -> CompileOutcome:
    """Compiled -> the stored result unchanged; otherwise `compiled` with the prompt, or `failed` with every
    violation. A deleted agent compiles nothing. The agent's name is the compiler's to read for a document in the old
    system's row shape (an imported agent's version 1: the old row's `name` is the agent's)."""
    ensure_live(agent)
    compilation: CompilerOutput = compile_blueprint(version.agent_blueprint, agent_name=agent.name)
    if version.compilation_status is CompilationStatus.COMPILED:
        stored = version.compile_warnings  # None: compiled before warnings were stored; the compiler says again
        return CompileOutcome(version=version, warnings=compilation.warnings if stored is None else stored,
                              changed=False)  # fmt: skip
    if compilation.prompt is not None:
        compiled = msgspec.structs.replace(
            version,
            compilation_status=CompilationStatus.COMPILED,
            compiled_system_prompt=compilation.prompt,
            compiled_at=now,
            compiled_by=by,
            compile_errors=None,
            compiler_version=compilation.compiler_version,
            compile_warnings=compilation.warnings,
        )
    else:
        compiled = msgspec.structs.replace(
            version,
            compilation_status=CompilationStatus.FAILED,
            compiled_system_prompt=None,
            compiled_at=now,
            compiled_by=by,
            compile_errors=compilation.violations,
            compiler_version=compilation.compiler_version,
            compile_warnings=compilation.warnings,
        )
    return CompileOutcome(version=compiled, warnings=compilation.warnings, changed=True)


def activate(agent: Agent, version: BlueprintVersion, *, now: datetime) -> Agent:
    """Only a compiled version of this agent goes live; activating an older one is the rollback. Activating the
    version that is already active changes nothing."""
    ensure_live(agent)
    if version.agent_id != agent.id:  # callers load versions through their agent; this is a programming error
        raise ValueError(f"version {version.id} belongs to agent {version.agent_id}, not {agent.id}")
    if version.compilation_status is not CompilationStatus.COMPILED:
        raise VersionNotCompiled(version.id, version.compilation_status.value)
    if agent.current_blueprint_id == version.id:
        return agent
    return msgspec.structs.replace(agent, current_blueprint_id=version.id, updated_at=now)


class LivePrompt(msgspec.Struct, frozen=True, kw_only=True):
    """What an LLM runtime fetches: the compiled prompt a label of an active agent points at (production: the
    active version)."""

    agent_id: UUID
    blueprint_id: UUID
    version: int
    compiled_system_prompt: str
    compiled_at: datetime
    label: str  # the label it was served by (domain/labels.py)


class CompilationStats(msgspec.Struct, frozen=True, kw_only=True):
    """Versions of an organization's agents (deleted agents not counted) by compilation status."""

    total_blueprints: int
    compiled_blueprints: int
    draft_blueprints: int
    failed_blueprints: int
    compilation_rate: float  # percent of versions compiled, rounded half up to 2 decimals as SQL does; 0 for none


def compilation_stats(*, compiled: int, draft: int, failed: int) -> CompilationStats:
    total = compiled + draft + failed
    return CompilationStats(
        total_blueprints=total,
        compiled_blueprints=compiled,
        draft_blueprints=draft,
        failed_blueprints=failed,
        compilation_rate=float((Decimal(compiled * 100) / total).quantize(CENT, ROUND_HALF_UP)) if total else 0.0,
    )
