"""Export and import (`org-agents export|import`): one organization as one JSON document, and back, with the same ids.

The document is written and read a record at a time, one record per line (the layout is part of format 1):

    {"format":"org-agents export","format_version":1,"organization":{…},"counts":{…},
    "agents":[
    {…},
    {…}
    ],
    "versions":[
    …
    ],
    "labels":[ … ], "label_moves":[ … ], "audit_events":[ … ]   (each laid out as above)
    }

Every field is written, null included, in the order the records below declare; ids as lowercase UUIDs; times in UTC
as RFC 3339 (`Z`, six fractional digits unless they are all zero); a version's document and an event's details as
PostgreSQL's own text of the stored jsonb, so they are copied verbatim (no float rounding). Nothing in the document
depends on when it was written, so the same data always gives the same bytes. Tokens are never exported: secrets are
not ours to move; mint new ones where the organization lands.
"""

from collections.abc import Iterator
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any, Final, Protocol, TypeAlias
from uuid import UUID

import msgspec

from application.ports import OrganizationArchive
from domain.agents import MAX_NAME, NO_NUL, NUL, AgentStatus
from domain.audit import Action
from domain.blueprints import MAX_MESSAGE, CompilationStatus, storage_violations
from domain.errors import QUOTA_NOUNS, Conflict, DomainError, Invalid, QuotaExceeded, Violation
from domain.labels import PRODUCTION, checked_name
from domain.quotas import DEFAULT_QUOTAS, Quotas, Usage, ensure_room

FORMAT: Final = "org-agents export"
FORMAT_VERSION: Final = 1
MAX_LINE: Final = 64 * 1024 * 1024  # one record; a version is at most a few MiB (its document, its prompt)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]  # VARCHAR(255), never blank
Text255 = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]  # user ids, conversations: VARCHAR(255), as stored
Moment = Annotated[datetime, msgspec.Meta(tz=True)]
Number = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]  # INTEGER columns that count from 1
Count = Annotated[int, msgspec.Meta(ge=0)]


class Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Source(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class Record(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A line of the document: every field required (null where there is none), no field unknown."""


class OrganizationRecord(Record, frozen=True, kw_only=True):
    id: UUID
    name: Name
    created_at: Moment


class ArchiveCounts(Record, frozen=True, kw_only=True):
    agents: Count
    versions: Count
    labels: Count
    label_moves: Count
    audit_events: Count


class ArchiveHead(Record, frozen=True, kw_only=True):
    format: str
    format_version: int
    organization: OrganizationRecord
    counts: ArchiveCounts  # what each section holds: a file that lost lines is refused


class AgentRecord(Record, frozen=True, kw_only=True):
    id: UUID
    number: Number  # the seed's integer `agent_id`, kept
    name: Name
    description: str | None
    status: AgentStatus
    created_by: Text255
    created_at: Moment
    updated_at: Moment
    current_blueprint_id: UUID | None  # production: the live version, compiled, or none


class VersionRecord(Record, frozen=True, kw_only=True):
    id: UUID
    agent_id: UUID
    version: Number
    created_by: Text255
    created_at: Moment
    conversation_id: Text255 | None
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE)] | None
    agent_blueprint: msgspec.Raw  # the stored document, verbatim
    compilation_status: CompilationStatus
    compiled_system_prompt: str | None
    compiled_at: Moment | None
    compiled_by: Text255 | None
    compiler_version: Annotated[str, msgspec.Meta(max_length=64)] | None
    compile_errors: list[Violation] | None
    compile_warnings: list[Violation] | None


class LabelRecord(Record, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    blueprint_id: UUID
    protected: bool
    moved_at: Moment
    moved_by: Text255


class LabelMoveRecord(Record, frozen=True, kw_only=True):
    agent_id: UUID
    name: str
    seq: Number
    blueprint_id: UUID | None  # None: the label was deleted
    version: Number | None
    previous_blueprint_id: UUID | None  # None: the label was new
    previous_version: Number | None
    moved_by: Text255
    moved_at: Moment


class AuditRecord(Record, frozen=True, kw_only=True):
    id: UUID
    occurred_at: Moment
    actor: Text255
    action: Action
    target_id: UUID
    agent_id: UUID | None
    details: msgspec.Raw  # a JSON object, verbatim


ArchiveRecord: TypeAlias = AgentRecord | VersionRecord | LabelRecord | LabelMoveRecord | AuditRecord

# The sections, in the order they are written and must be loaded (each refers only to those before it).
SECTIONS: Final[tuple[tuple[str, type[ArchiveRecord]], ...]] = (
    ("agents", AgentRecord),
    ("versions", VersionRecord),
    ("labels", LabelRecord),
    ("label_moves", LabelMoveRecord),
    ("audit_events", AuditRecord),
)
SECTION_OF: Final[dict[type[ArchiveRecord], int]] = {kind: n for n, (_, kind) in enumerate(SECTIONS)}


class ArchiveInvalid(Invalid):
    """The file is not an export this version reads, or breaks a rule of what it holds; `line` says where."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}; nothing was imported")
        self.line = line


class ImportRefused(Conflict):
    """The file is sound, but the database it would go into cannot take it: an id is taken, the organization has
    agents."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; nothing was imported")


class ExportRefused(Conflict):
    """Something stored cannot be written as the format says (a row the service itself could not read)."""


class ExportOrganization(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str


class ImportOrganization(msgspec.Struct, frozen=True, kw_only=True):
    org_name: str  # where it goes: created when new, else an organization without agents


class Transferred(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str
    counts: ArchiveCounts


def describe(counts: ArchiveCounts) -> str:
    return (
        f"{counts.agents} agents, {counts.versions} versions, {counts.labels} labels, "
        f"{counts.label_moves} label moves, {counts.audit_events} audit events"
    )


# -- export ---------------------------------------------------------------------------------------------------

_ENCODER: Final = msgspec.json.Encoder(order="deterministic")


class _DocumentWriter:
    """Writes the sections in order, one record per line; a record is written once the next one (or the end of its
    section) shows whether a comma follows it, so at most one record waits."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self._section = -1
        self._waiting: bytes | None = None
        self.counts = [0] * len(SECTIONS)

    def head(self, head: ArchiveHead) -> None:
        self._out.write(_ENCODER.encode(head)[:-1] + b",\n")  # the object stays open: the sections follow

    def add(self, record: ArchiveRecord) -> None:
        section = SECTION_OF[type(record)]
        if section < self._section:
            raise RuntimeError(f"{type(record).__name__} after section {SECTIONS[self._section][0]}")
        self._open(section)
        if self._waiting is not None:
            self._out.write(self._waiting + b",\n")
        self._waiting = _ENCODER.encode(record)
        self.counts[section] += 1

    def end(self) -> None:
        self._open(len(SECTIONS) - 1)
        self._close()
        self._out.write(b"\n}\n")

    def _open(self, section: int) -> None:
        while self._section < section:
            if self._section >= 0:
                self._close()
                self._out.write(b",\n")
            self._section += 1
            self._out.write(b'"' + SECTIONS[self._section][0].encode() + b'":[\n')

    def _close(self) -> None:
        if self._waiting is not None:
            self._out.write(self._waiting + b"\n")
            self._waiting = None
        self._out.write(b"]")


async def export_organization(archive: OrganizationArchive, cmd: ExportOrganization, out: Sink) -> Transferred:
    """The operator's. Everything of the organization (agents, every version with its document and compilation,
    labels and their history, the audit trail; never a token) from one consistent snapshot, a record at a time.
    Raises UnknownOrganization."""
    async with archive.snapshot(cmd.org_name) as snapshot:
        head = ArchiveHead(
            format=FORMAT, format_version=FORMAT_VERSION, organization=snapshot.organization, counts=snapshot.counts
        )
        writer = _DocumentWriter(out)
        writer.head(head)
        async with aclosing(snapshot.records()) as records:  # its cursor closes here, even when a write fails
            async for record in records:
                writer.add(record)
        writer.end()
    written = ArchiveCounts(**dict(zip((name for name, _ in SECTIONS), writer.counts, strict=True)))
    if written != head.counts:  # one snapshot: they cannot differ unless the adapter reads outside it
        raise RuntimeError(f"counted {head.counts} but wrote {written}")
    return Transferred(org_id=head.organization.id, org_name=head.organization.name, counts=head.counts)


# -- import ---------------------------------------------------------------------------------------------------


class _Lines:
    """The file a line at a time (newline excluded), never more than MAX_LINE bytes in memory."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self.number = 0

    def next(self, expecting: str, *, last: bool = False) -> bytes:
        """The next line; every line but the `last` ends with a newline, or the file was cut short there."""
        line = self._source.readline(MAX_LINE + 1)
        if not line:
            raise ArchiveInvalid(self.number, f"the file ends here, before {expecting}: it is truncated")
        self.number += 1
        if len(line) > MAX_LINE:
            raise ArchiveInvalid(self.number, f"longer than {MAX_LINE // 1024 // 1024} MiB, which no record is")
        if not (last or line.endswith(b"\n")):
            raise ArchiveInvalid(self.number, f"the file ends inside this line, before {expecting}: it is truncated")
        return line.rstrip(b"\r\n")

    def at_end(self) -> bool:
        return not self._source.readline(1)


class _Probe(msgspec.Struct, frozen=True):
    format: object = None
    format_version: object = None


def _head(lines: _Lines) -> ArchiveHead:
    line = lines.next("the head", last=True)  # a file of one line is not an export, and is told so
    if not (line.startswith(b"{") and line.endswith(b",")):
        raise ArchiveInvalid(lines.number, f"not an {FORMAT}, or not laid out as export writes it (a record a line)")
    text = line[:-1] + b"}"
    try:
        probe = msgspec.json.decode(text, type=_Probe)
    except msgspec.DecodeError as exc:
        raise ArchiveInvalid(lines.number, f"not an {FORMAT}: {exc}") from None
    if probe.format != FORMAT:
        raise ArchiveInvalid(lines.number, f"not an {FORMAT} (its format is {probe.format!r})")
    if probe.format_version != FORMAT_VERSION:
        raise ArchiveInvalid(
            lines.number, f"format_version {probe.format_version!r}: this org-agents reads {FORMAT_VERSION}"
        )
    try:
        return msgspec.json.decode(text, type=ArchiveHead)
    except msgspec.DecodeError as exc:
        raise ArchiveInvalid(lines.number, f"the head: {exc}") from None


def _nul_field(record: msgspec.Struct) -> str | None:
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if isinstance(value, str) and NUL in value:
            return name
    return None


def _document(raw: msgspec.Raw, field: str) -> str | None:
    """Why a stored JSON value cannot be restored as it is: it is not an object, or holds U+0000 (jsonb cannot).
    The rules for saving new content (shapes, depth, item counts) are not applied again: stored documents are
    restored verbatim, as migration 0005 kept the old system's rows."""
    text = bytes(raw)  # valid JSON: msgspec checked it while reading the line
    if not text.lstrip().startswith(b"{"):
        return f"{field}: must be a JSON object"
    if b"u0000" in text:  # rare: only then is the document decoded (JSON can write U+0000 only as an escape)
        value: Any = msgspec.json.decode(text)
        found = [v for v in storage_violations(value) if v.message == NO_NUL]
        if found:
            return f"{field}.{found[0].field}: {NO_NUL}" if found[0].field else f"{field}: {NO_NUL}"
    return None


class _Rules:
    """What the service's own use cases guarantee of stored data, checked record by record as the file is read.
    Held in memory: a few ids per agent and per version (about 150 bytes per version), never a document."""

    def __init__(self) -> None:
        self.agents: dict[UUID, tuple[int, int, UUID | None]] = {}  # id → (line, number, production)
        self.numbers: set[int] = set()
        self.last_version: dict[UUID, int] = {}
        self.versions: dict[UUID, tuple[UUID, int, CompilationStatus]] = {}  # id → (agent, number, status)
        self.labels: set[tuple[UUID, str]] = set()
        self.last_seq: dict[tuple[UUID, str], int] = {}
        self.events: set[UUID] = set()

    def problem(self, record: ArchiveRecord, line: int) -> str | None:
        if (field := _nul_field(record)) is not None:
            return f"{field}: {NO_NUL}"
        if isinstance(record, AgentRecord):
            return self._agent(record, line)
        if isinstance(record, VersionRecord):
            return self._version(record)
        if isinstance(record, LabelRecord):
            return self._label(record)
        if isinstance(record, LabelMoveRecord):
            return self._move(record)
        return self._event(record)

    def _agent(self, agent: AgentRecord, line: int) -> str | None:
        if agent.id in self.agents:
            return f"agent {agent.id} appears twice"
        if agent.number in self.numbers:
            return f"agent number {agent.number} appears twice"
        if not agent.name.strip(" "):
            return f"agent {agent.id}: name: required, non-blank"
        self.agents[agent.id] = (line, agent.number, agent.current_blueprint_id)
        self.numbers.add(agent.number)
        return None

    def _known_agent(self, agent_id: UUID) -> str | None:
        return None if agent_id in self.agents else f"agent {agent_id} is not among the agents"

    def _version(self, version: VersionRecord) -> str | None:
        if (problem := self._known_agent(version.agent_id)) is not None:
            return f"version {version.id}: {problem}"
        if version.id in self.versions:
            return f"version {version.id} appears twice"
        expected = self.last_version.get(version.agent_id, 0) + 1
        if version.version != expected:
            return (
                f"agent {version.agent_id}: version {version.version} where {expected} comes next; an agent's "
                "versions are numbered 1, 2, 3 … in order"
            )
        problem = _document(version.agent_blueprint, "agent_blueprint") or _compilation(version)
        if problem is not None:
            return f"version {version.version} of agent {version.agent_id}: {problem}"
        self.last_version[version.agent_id] = version.version
        self.versions[version.id] = (version.agent_id, version.version, version.compilation_status)
        return None

    def production(self) -> tuple[int, str] | None:
        """Where an agent's production is not a compiled version of its own: (the agent's line, why)."""
        for agent_id, (line, number, production) in self.agents.items():
            if production is None:
                continue
            problem = self._compiled_version_of(agent_id, production)
            if problem is not None:
                return line, f"agent {number} ({agent_id}): current_blueprint_id {problem}"
        return None

    def _compiled_version_of(self, agent_id: UUID, version_id: UUID) -> str | None:
        found = self.versions.get(version_id)
        if found is None or found[0] != agent_id:
            return f"{version_id} is not one of the agent's versions"
        if found[2] is not CompilationStatus.COMPILED:
            article = "an" if found[2] is CompilationStatus.FAILED else "a"
            return (
                f"{version_id} is version {found[1]}, {article} {found[2]}: only a compiled version is labelled "
                "(production too)"
            )
        return None

    def _label(self, label: LabelRecord) -> str | None:
        where = f"label {label.name!r} of agent {label.agent_id}"
        if (problem := self._known_agent(label.agent_id)) is not None:
            return f"{where}: {problem}"
        if (problem := _label_name(label.name, moving=False)) is not None:
            return f"{where}: {problem}"
        if (label.agent_id, label.name) in self.labels:
            return f"{where} appears twice"
        if (problem := self._compiled_version_of(label.agent_id, label.blueprint_id)) is not None:
            return f"{where}: blueprint_id {problem}"
        self.labels.add((label.agent_id, label.name))
        return None

    def _move(self, move: LabelMoveRecord) -> str | None:
        where = f"move {move.seq} of label {move.name!r} of agent {move.agent_id}"
        if (problem := self._known_agent(move.agent_id)) is not None:
            return f"{where}: {problem}"
        if (problem := _label_name(move.name, moving=True)) is not None:
            return f"{where}: {problem}"
        expected = self.last_seq.get((move.agent_id, move.name), 0) + 1
        if move.seq != expected:
            return f"{where}: seq {move.seq} where {expected} comes next; a label's moves are numbered 1, 2, 3 …"
        to = self._pointer(move.agent_id, move.blueprint_id, move.version, "blueprint_id", compiled=True)
        problem = to or self._pointer(
            move.agent_id, move.previous_blueprint_id, move.previous_version, "previous_blueprint_id", compiled=False
        )
        if problem is not None:
            return f"{where}: {problem}"
        self.last_seq[(move.agent_id, move.name)] = move.seq
        return None

    def _pointer(self, agent_id: UUID, version_id: UUID | None, number: int | None, field: str, *,
                 compiled: bool) -> str | None:  # fmt: skip
        """A move's end: nowhere (both None) or a version of the agent, its number given as it is."""
        if version_id is None or number is None:
            return None if version_id is None and number is None else f"{field} and its version go together"
        if compiled:
            problem = self._compiled_version_of(agent_id, version_id)
            if problem is not None:
                return f"{field} {problem}"
        found = self.versions.get(version_id)
        if found is None or found[0] != agent_id:
            return f"{field} {version_id} is not one of the agent's versions"
        if found[1] != number:
            return f"{field} {version_id} is version {found[1]}, not {number}"
        return None

    def _event(self, event: AuditRecord) -> str | None:
        if event.id in self.events:
            return f"audit event {event.id} appears twice"
        if event.agent_id is not None and event.agent_id not in self.agents:
            return f"audit event {event.id}: agent_id {event.agent_id} is not among the agents"
        if (problem := _document(event.details, "details")) is not None:
            return f"audit event {event.id}: {problem}"
        self.events.add(event.id)
        return None


def _label_name(name: str, *, moving: bool) -> str | None:
    """Stored labels are neither production (the agent's current_blueprint_id) nor latest (derived, refused by
    `checked_name`); production's moves are in the history with the others'."""
    try:
        checked_name(name, writing=True)
    except DomainError as exc:
        return str(exc)
    if name == PRODUCTION and not moving:
        return "production is the agent's current_blueprint_id, never a stored label"
    return None


def _compilation(version: VersionRecord) -> str | None:
    """A draft has no outcome; a compiled version has its prompt and its time, a failed one no prompt."""
    status = version.compilation_status
    outcome = {
        "compiled_system_prompt": version.compiled_system_prompt,
        "compiled_at": version.compiled_at,
        "compiled_by": version.compiled_by,
        "compiler_version": version.compiler_version,
        "compile_errors": version.compile_errors,
        "compile_warnings": version.compile_warnings,
    }
    if status is CompilationStatus.DRAFT:
        kept = next((field for field, value in outcome.items() if value is not None), None)
        return None if kept is None else f"a draft has no compilation, but {kept} is set"
    if status is CompilationStatus.COMPILED and not version.compiled_system_prompt:
        return "compiled, but compiled_system_prompt is empty: a compiled version has its prompt"
    if status is CompilationStatus.COMPILED and version.compile_errors is not None:
        return "compiled, but compile_errors is set"
    if status is CompilationStatus.FAILED and version.compiled_system_prompt is not None:
        return "failed, but compiled_system_prompt is set"
    if status is CompilationStatus.COMPILED and version.compiled_at is None:
        return "compiled, but compiled_at is null: a live prompt says when it was compiled"
    return None


def read_archive(source: Source) -> tuple[ArchiveHead, Iterator[ArchiveRecord]]:
    """The head, read now, and the records, read and checked as they are taken: a problem raises ArchiveInvalid
    (naming its line) from the iteration, so a loader that stores each record as it comes stores none for good.
    Exhausting the iterator checks the end of the file too."""
    lines = _Lines(source)
    head = _head(lines)
    return head, _records(lines, head)


def _records(lines: _Lines, head: ArchiveHead) -> Iterator[ArchiveRecord]:
    rules = _Rules()
    for section, (name, kind) in enumerate(SECTIONS):
        last = section == len(SECTIONS) - 1
        opening = f'"{name}":['
        if lines.next(opening) != opening.encode():
            raise ArchiveInvalid(lines.number, f"expected {opening} here (one record per line, as export writes)")
        closer = b"]" if last else b"],"
        expected: int = getattr(head.counts, name)
        count, more = 0, True
        while (line := lines.next(f"the end of {name}")) != closer:
            if not more:
                raise ArchiveInvalid(lines.number, f"expected {closer.decode()} (the record before ends {name})")
            more = line.endswith(b",")
            record = _decoded(line[:-1] if more else line, kind, name, lines.number)
            if (problem := rules.problem(record, lines.number)) is not None:
                raise ArchiveInvalid(lines.number, problem)
            count += 1
            yield record
        if count and more:
            raise ArchiveInvalid(lines.number - 1, f"the last record of {name} is followed by a comma")
        if count != expected:
            raise ArchiveInvalid(lines.number, f"{name} holds {count} records, the head says {expected}")
        if kind is VersionRecord and (wrong := rules.production()) is not None:
            raise ArchiveInvalid(*wrong)
    if lines.next("the closing }", last=True) != b"}" or not lines.at_end():
        raise ArchiveInvalid(lines.number, "expected the closing } alone on the last line")


def _decoded(line: bytes, kind: type[ArchiveRecord], section: str, number: int) -> ArchiveRecord:
    try:
        return msgspec.json.decode(line, type=kind)
    except msgspec.DecodeError as exc:
        raise ArchiveInvalid(number, f"{section}: {exc}") from None


def _within(quotas: Quotas, org_name: str, records: Iterator[ArchiveRecord]) -> Iterator[ArchiveRecord]:
    """The records, refused (ImportRefused, from the iteration: nothing is imported) as soon as the organization
    would hold more than a quota allows. It holds nothing before (an import goes only into one without agents).
    A document counts its text as the file holds it: for an export, PostgreSQL's text of the stored jsonb, as
    migration 0016 counts what was stored before it."""
    agents = versions = stored_bytes = 0
    for record in records:
        used = Usage(agents=agents, versions=versions, stored_bytes=stored_bytes)
        try:
            if isinstance(record, AgentRecord) and record.status is not AgentStatus.DELETE:
                ensure_room(quotas, used, agents=1)
                agents += 1
            elif isinstance(record, VersionRecord):
                size = len(record.agent_blueprint)
                ensure_room(quotas, used, versions=1, stored_bytes=size)
                versions, stored_bytes = versions + 1, stored_bytes + size
        except QuotaExceeded as exc:
            raise ImportRefused(
                f"the file holds more {QUOTA_NOUNS[exc.quota]} than organization {org_name!r} may store "
                f"(its quota is {exc.limit})"
            ) from exc
        yield record


async def import_organization(
    archive: OrganizationArchive, cmd: ImportOrganization, source: Source, *, quotas: Quotas = DEFAULT_QUOTAS
) -> Transferred:
    """The operator's. Loads an export with its ids and numbers into `cmd.org_name` (created, with the export's id,
    when new; else it must have no agents), in one transaction: all or nothing. What the service's rules forbid is
    refused, never repaired (ArchiveInvalid); so is what collides with the database, or would take the organization
    past its quotas (ImportRefused). Storage counts what it loaded as the organization's usage."""
    head, records = read_archive(source)
    org_id = await archive.load(head.organization, cmd.org_name, _within(quotas, cmd.org_name, records))
    return Transferred(org_id=org_id, org_name=cmd.org_name, counts=head.counts)
