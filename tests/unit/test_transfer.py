"""The export document as application/transfer.py writes and reads it: its layout, its determinism, and every rule
an import checks, on records held in memory (the PostgreSQL archive is tested end to end in tests/e2e)."""

import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import msgspec
import pytest

from application.transfer import (
    AgentRecord,
    ArchiveCounts,
    ArchiveInvalid,
    ArchiveRecord,
    AuditRecord,
    ExportOrganization,
    LabelMoveRecord,
    LabelRecord,
    OrganizationRecord,
    VersionRecord,
    export_organization,
    read_archive,
)
from domain.agents import AgentStatus
from domain.audit import Action
from domain.blueprints import CompilationStatus
from domain.errors import UnknownOrganization, Violation

if TYPE_CHECKING:
    from application.ports import OrganizationArchive

pytestmark = pytest.mark.anyio

T0: Final = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORG: Final = OrganizationRecord(id=UUID(int=1), name="acme", created_at=T0)
AGENT: Final = UUID(int=10)
OTHER: Final = UUID(int=11)
V1, V2, V3 = UUID(int=101), UUID(int=102), UUID(int=103)


def _records() -> list[ArchiveRecord]:
    """Two agents: the first with a compiled, production version 1 labelled staging and a draft 2; the second with
    a failed version. Times with and without fractions, a document with a number no float holds."""
    draft: dict[str, Any] = dict.fromkeys(
        ("compiled_system_prompt", "compiled_at", "compiled_by", "compiler_version", "compile_errors",
         "compile_warnings")
    ) | {"compilation_status": CompilationStatus.DRAFT}  # fmt: skip
    compiled = draft | {
        "compilation_status": CompilationStatus.COMPILED,
        "compiled_system_prompt": "You are Shop Buddy.",
        "compiled_at": T0 + timedelta(microseconds=5),
        "compiled_by": "ana",
        "compiler_version": "1",
        "compile_warnings": [Violation(field="mood", message="unknown section")],
    }
    failed = draft | {
        "compilation_status": CompilationStatus.FAILED,
        "compiled_at": T0,
        "compiled_by": "ana",
        "compile_errors": [Violation(field="identity.name", message="required")],
    }

    def version(id: UUID, agent: UUID, n: int, outcome: dict[str, Any]) -> VersionRecord:
        doc = msgspec.Raw(b'{"big": 123456789012345678901234567890, "identity": {"name": "Shop \\"Buddy\\""}}')
        return VersionRecord(id=id, agent_id=agent, version=n, created_by="ana", created_at=T0, conversation_id=None,
                             message="note\nwith a newline", agent_blueprint=doc, **outcome)  # fmt: skip

    def agent(id: UUID, number: int, production: UUID | None, status: AgentStatus) -> AgentRecord:
        return AgentRecord(id=id, number=number, name=f"Agent {number}", description=None, status=status,
                           created_by="ana", created_at=T0, updated_at=T0, current_blueprint_id=production)  # fmt: skip

    return [
        agent(AGENT, 7, V1, AgentStatus.ACTIVE),
        agent(OTHER, 12, None, AgentStatus.DELETE),
        version(V1, AGENT, 1, compiled),
        version(V2, AGENT, 2, draft),
        version(V3, OTHER, 1, failed),
        LabelRecord(agent_id=AGENT, name="staging", blueprint_id=V1, protected=True, moved_at=T0, moved_by="ana"),
        LabelMoveRecord(
            agent_id=AGENT,
            name="production",
            seq=1,
            blueprint_id=V1,
            version=1,
            previous_blueprint_id=None,
            previous_version=None,
            moved_by="ana",
            moved_at=T0,
        ),
        LabelMoveRecord(
            agent_id=AGENT,
            name="staging",
            seq=1,
            blueprint_id=V1,
            version=1,
            previous_blueprint_id=None,
            previous_version=None,
            moved_by="ana",
            moved_at=T0,
        ),
        AuditRecord(
            id=UUID(int=900),
            occurred_at=T0,
            actor="ana",
            action=Action.AGENT_CREATE,
            target_id=AGENT,
            agent_id=AGENT,
            details=msgspec.Raw(b'{"name": "Agent 7"}'),
        ),
        AuditRecord(
            id=UUID(int=901),
            occurred_at=T0,
            actor="ana",
            action=Action.TOKEN_CREATE,
            target_id=UUID(int=5),
            agent_id=None,
            details=msgspec.Raw(b"{}"),
        ),
    ]


class HeldSnapshot:
    def __init__(self, records: list[ArchiveRecord]) -> None:
        self.organization = ORG
        self._records = records
        kinds = [type(r) for r in records]
        self.counts = ArchiveCounts(agents=kinds.count(AgentRecord), versions=kinds.count(VersionRecord),
                                    labels=kinds.count(LabelRecord), label_moves=kinds.count(LabelMoveRecord),
                                    audit_events=kinds.count(AuditRecord))  # fmt: skip

    async def records(self) -> AsyncGenerator[ArchiveRecord, None]:
        for record in self._records:
            yield record


class HeldArchive:
    """An archive of records held in memory, for the application's writer and reader alone."""

    def __init__(self, records: list[ArchiveRecord]) -> None:
        self._records = records

    @asynccontextmanager
    async def snapshot(self, org_name: str) -> AsyncIterator[HeldSnapshot]:
        if org_name != ORG.name:
            raise UnknownOrganization(org_name)
        yield HeldSnapshot(self._records)

    async def load(self, organization: OrganizationRecord, org_name: str, records: Iterator[ArchiveRecord]) -> UUID:
        raise NotImplementedError  # the import's loading is PostgreSQL's (tests/e2e/test_export_import.py)


async def exported(records: list[ArchiveRecord]) -> bytes:
    out, archive = io.BytesIO(), HeldArchive(records)
    checked: OrganizationArchive = archive  # mypy: the double is an archive
    await export_organization(checked, ExportOrganization(org_name=ORG.name), out)
    return out.getvalue()


def read_all(document: bytes) -> list[ArchiveRecord]:
    _, records = read_archive(io.BytesIO(document))
    return list(records)


async def test_an_export_is_one_json_document_one_record_per_line() -> None:
    document = await exported(_records())

    parsed = json.loads(document)
    lines = document.split(b"\n")
    assert parsed["counts"] == {"agents": 2, "versions": 3, "labels": 1, "label_moves": 2, "audit_events": 2}
    assert lines[0].startswith(b'{"format":"org-agents export","format_version":1,"organization":')
    assert lines[1] == b'"agents":['
    assert lines[4:7] == [b"],", b'"versions":[', lines[6]]
    assert lines[-4:] == [lines[-4], b"]", b"}", b""]
    assert len(lines) == 1 + 5 * 2 + len(_records()) + 2
    assert b'"compiled_at":"2026-03-01T12:00:00.000005Z"' in document
    assert b'"created_at":"2026-03-01T12:00:00Z"' in document
    assert b"123456789012345678901234567890" in document
    assert parsed["versions"][0]["message"] == "note\nwith a newline"


async def test_what_is_read_back_is_what_was_written_and_writes_the_same_bytes() -> None:
    document = await exported(_records())

    back = read_all(document)

    assert [msgspec.json.encode(r) for r in back] == [msgspec.json.encode(r) for r in _records()]
    assert await exported(back) == document


async def test_empty_sections_are_written_and_read() -> None:
    agent_only = _records()[1:2]
    document = await exported([msgspec.structs.replace(agent_only[0], current_blueprint_id=None)])

    assert b'"versions":[\n],\n' in document
    assert len(read_all(document)) == 1


async def test_an_unknown_organization_is_not_found() -> None:
    with pytest.raises(UnknownOrganization, match="no organization named 'nobody'"):
        await export_organization(HeldArchive([]), ExportOrganization(org_name="nobody"), io.BytesIO())


def _with(document: bytes, section: str, index: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> bytes:
    lines = document.split(b"\n")
    at = lines.index(f'"{section}":['.encode()) + 1 + index
    comma = lines[at].endswith(b",")
    lines[at] = msgspec.json.encode(change(json.loads(lines[at].rstrip(b",")))) + (b"," if comma else b"")
    return b"\n".join(lines)


def _set(section: str, index: int, **fields: Any) -> Callable[[bytes], bytes]:
    return lambda document: _with(document, section, index, lambda record: record | fields)


def _head(**fields: Any) -> Callable[[bytes], bytes]:
    def edit(document: bytes) -> bytes:
        first, rest = document.split(b"\n", 1)
        head = json.loads(first[:-1] + b"}") | fields
        return msgspec.json.encode(head)[:-1] + b",\n" + rest

    return edit


def _drop_line(section: str, index: int) -> Callable[[bytes], bytes]:
    def edit(document: bytes) -> bytes:
        lines = document.split(b"\n")
        at = lines.index(f'"{section}":['.encode()) + 1 + index
        return b"\n".join(lines[:at] + lines[at + 1 :])

    return edit


def _comma_after(section: str, index: int) -> Callable[[bytes], bytes]:
    def edit(document: bytes) -> bytes:
        lines = document.split(b"\n")
        at = lines.index(f'"{section}":['.encode()) + 1 + index
        lines[at] += b","
        return b"\n".join(lines)

    return edit


EDITS: Final[dict[str, tuple[Callable[[bytes], bytes], str]]] = {
    "not json": (lambda _: b"hello\n", "line 1: not an org-agents export"),
    "another format": (_head(format="something else"), "its format is 'something else'"),
    "a newer format": (_head(format_version=2), "format_version 2: this org-agents reads 1"),
    "pretty-printed": (lambda d: json.dumps(json.loads(d), indent=2).encode(), "line 1: not an org-agents export"),
    "all on one line": (lambda d: json.dumps(json.loads(d)).encode(), "line 1: not an org-agents export"),
    "a field unknown": (_set("agents", 0, colour="red"), "line 3: agents: Object contains unknown field `colour`"),
    "a field missing": (
        lambda d: _with(d, "agents", 0, lambda r: {k: v for k, v in r.items() if k != "created_by"}),
        "missing required field `created_by`",
    ),
    "a time without its zone": (_set("agents", 0, created_at="2026-03-01T12:00:00"), "with a timezone component"),
    "a blank name": (_set("agents", 0, name="  "), "name: required, non-blank"),
    "NUL in a name": (_set("agents", 0, name="a\x00b"), "name: must not contain the NUL character"),
    "an agent twice": (_set("agents", 1, id=str(AGENT)), f"agent {AGENT} appears twice"),
    "a number twice": (_set("agents", 1, number=7), "agent number 7 appears twice"),
    "a number out of range": (_set("agents", 0, number=0), "Expected `int` >= 1"),
    "an unknown status": (_set("agents", 0, status="paused"), "Invalid enum value 'paused'"),
    "production on a draft": (
        _set("agents", 0, current_blueprint_id=str(V2)),
        f"line 3: agent 7 ({AGENT}): current_blueprint_id {V2} is version 2, a draft: only a compiled version",
    ),
    "production on another agent's version": (
        _set("agents", 0, current_blueprint_id=str(V3)),
        f"current_blueprint_id {V3} is not one of the agent's versions",
    ),
    "a version of no agent": (_set("versions", 0, agent_id=str(UUID(int=99))), "is not among the agents"),
    "a version lost": (_drop_line("versions", 0), "version 2 where 1 comes next"),
    "a document not an object": (_set("versions", 0, agent_blueprint=[1, 2]), "agent_blueprint: must be a JSON object"),
    "NUL in a document": (
        _set("versions", 1, agent_blueprint={"identity": {"name": "a\x00"}}),
        "agent_blueprint.identity.name: must not contain the NUL",
    ),
    "compiled without a prompt": (
        _set("versions", 0, compiled_system_prompt=None),
        "compiled, but compiled_system_prompt is empty: a compiled version has its prompt",
    ),
    "compiled with errors": (
        _set("versions", 0, compile_errors=[{"field": "x", "message": "y"}]),
        "compiled, but compile_errors is set",
    ),
    "compiled at no time": (_set("versions", 0, compiled_at=None), "compiled, but compiled_at is null"),
    "a draft with an outcome": (
        _set("versions", 1, compiled_by="ana"),
        "a draft has no compilation, but compiled_by is set",
    ),
    "failed with a prompt": (
        _set("versions", 2, compiled_system_prompt="x"),
        "failed, but compiled_system_prompt is set",
    ),
    "a note too long": (_set("versions", 1, message="x" * 1001), "Expected `str` of length <= 1000"),
    "a label on a draft": (_set("labels", 0, blueprint_id=str(V2)), "is version 2, a draft"),
    "a label named production": (_set("labels", 0, name="production"), "production is the agent's"),
    "a label named latest": (_set("labels", 0, name="latest"), "'latest' is reserved"),
    "a label badly named": (_set("labels", 0, name="Bad Name"), "label 'Bad Name': 1 to 36 characters"),
    "a move out of order": (_set("label_moves", 1, seq=2), "seq 2 where 1 comes next"),
    "a move misnumbered": (_set("label_moves", 0, version=2), f"blueprint_id {V1} is version 1, not 2"),
    "a move half pointing": (_set("label_moves", 0, version=None), "blueprint_id and its version go together"),
    "a move to a draft": (_set("label_moves", 0, blueprint_id=str(V2), version=2), "is version 2, a draft"),
    "an event of no agent": (_set("audit_events", 0, agent_id=str(UUID(int=98))), "is not among the agents"),
    "an event twice": (_set("audit_events", 1, id=str(UUID(int=900))), "appears twice"),
    "an unknown action": (_set("audit_events", 0, action="agent.fly"), "Invalid enum value 'agent.fly'"),
    "details not an object": (_set("audit_events", 0, details="text"), "details: must be a JSON object"),
    "a count too high": (
        _head(counts={"agents": 2, "versions": 3, "labels": 2, "label_moves": 2, "audit_events": 2}),
        "labels holds 1 records, the head says 2",
    ),
    "a trailing comma": (_comma_after("labels", 0), "the last record of labels is followed by a comma"),
    "something after the end": (lambda d: d + b"{}\n", "expected the closing } alone on the last line"),
    "cut short": (lambda d: d[: len(d) // 2], "it is truncated"),
    "cut at a line": (lambda d: b"\n".join(d.split(b"\n")[:8]) + b"\n", "it is truncated"),
}


@pytest.mark.parametrize("edit", list(EDITS))
async def test_an_edited_or_broken_document_is_refused_naming_its_line(edit: str) -> None:
    change, says = EDITS[edit]
    document = change(await exported(_records()))

    with pytest.raises(ArchiveInvalid) as refused:
        read_all(document)

    message = str(refused.value)
    assert message.startswith("line ")
    assert says in message
    assert message.endswith("; nothing was imported")
    assert "\n" not in message


async def test_a_windows_line_ending_or_a_missing_last_newline_is_read() -> None:
    document = await exported(_records())

    assert len(read_all(document.replace(b"\n", b"\r\n"))) == len(_records())
    assert len(read_all(document.rstrip(b"\n"))) == len(_records())


async def test_what_the_database_holds_and_the_service_reads_is_taken_as_it_is() -> None:
    document = await exported(_records())
    loose = _set("versions", 0, compiled_by=None, created_by="", compiler_version=None, compile_warnings=None)

    back = read_all(_set("agents", 1, created_by="")(loose(document)))  # seed SQL and psql may leave these so

    assert [r.created_by for r in back if isinstance(r, AgentRecord)] == ["ana", ""]
    assert next((r.compiled_by, r.compiler_version) for r in back if isinstance(r, VersionRecord)) == (None, None)
