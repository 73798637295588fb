"""Wire types: what clients send and receive. Separate from the domain so that a rename inside never changes the API
the seed's front end and LLM runtimes depend on."""

from datetime import datetime
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

import msgspec
from msgspec import UnsetType

from application.agents import MAX_QUERY
from application.blueprints import ListedVersion
from application.pagination import MAX_LIMIT, Page
from domain.agents import MAX_DESCRIPTION, MAX_NAME, AgentStatus
from domain.audit import Action
from domain.blueprints import MAX_CONVERSATION_ID, MAX_DEPTH, MAX_ITEMS, MAX_MESSAGE, CompilationStatus
from domain.diff import Op
from domain.roles import Role, Scope
from domain.tokens import BODY_LENGTH, CHECKSUM_LENGTH, MAX_TOKEN_NAME, SECRET_PREFIX
from domain.webhooks import MAX_DESCRIPTION as MAX_WEBHOOK_DESCRIPTION
from domain.webhooks import MAX_URL, SUBSCRIBABLE, DeliveryStatus, EventType

T = TypeVar("T")

MAX_BLUEPRINT_BYTES: Final = 256 * 1024  # a request body over this is refused with 413
MAX_SMALL_BODY_BYTES: Final = 64 * 1024  # bodies without a blueprint: names, descriptions, queries

# What the domain refuses in text, documented as patterns (Litestar reads a Meta's `extra` as extra schema keywords,
# litestar/plugins/core/_msgspec.py; msgspec ignores it): the domain stays the one that checks, with its own messages.
# PostgreSQL's text cannot hold U+0000; a name must hold more than blanks, as Python's str.isspace() sees them.
_BLANKS: Final = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
NO_NUL: Final = {"pattern": "^[^\\u0000]*$"}
NOT_BLANK: Final = {"pattern": f"^[^\\u0000]*[^\\u0000{_BLANKS}][^\\u0000]*$"}

Name = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_NAME, examples=["Shop Buddy"], extra_json_schema={"extra": NOT_BLANK}),
]
Description = Annotated[
    str,
    msgspec.Meta(max_length=MAX_DESCRIPTION, examples=["Answers shoppers' questions"],
                 extra_json_schema={"extra": NO_NUL}),
]  # fmt: skip
ConversationId = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_CONVERSATION_ID, description="the conversation that produced it",
                 extra_json_schema={"extra": NO_NUL}),
]  # fmt: skip
Message = Annotated[
    str,
    msgspec.Meta(max_length=MAX_MESSAGE, description="the change note: what changed, and why",
                 examples=["Answers questions about returns too"], extra_json_schema={"extra": NO_NUL}),
]  # fmt: skip
Document = Annotated[
    dict[str, Any],
    msgspec.Meta(description="The blueprint: identity, capabilities, tools, integrations, knowledge_sources, "
                 "monitoring, test_scenarios, workflow; unknown sections are kept verbatim. Refused (422, each place "
                 f"named): a known section of the wrong type, U+0000 in any key or string, nesting deeper than "
                 f"{MAX_DEPTH} levels, an array of more than {MAX_ITEMS} items."),
]  # fmt: skip


# -- requests: a field we do not know is an error, never silently ignored ------------------------------------


class AgentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    description: Description | None = None


class AgentWithBlueprintCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    agent_blueprint: Document
    description: Description | None = None
    conversation_id: ConversationId | None = None
    message: Message | None = None


class AgentUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; `"description": null` clears the description."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    status: AgentStatus | msgspec.UnsetType = msgspec.UNSET


class AgentSearch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    query: Annotated[
        str, msgspec.Meta(min_length=1, max_length=MAX_QUERY, examples=["shop"], extra_json_schema={"extra": NOT_BLANK})
    ]
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] | None = None


class VersionCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_blueprint: Document
    conversation_id: ConversationId | None = None
    message: Message | None = None


class PreviewIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    agent_blueprint: Document
    agent_id: UUID | None = None  # the agent it would be a version of (its name, as compile reads it); 404 if foreign


class LabelMoveIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    blueprint_id: Annotated[UUID, msgspec.Meta(description="a compiled version of the agent")]


class LabelProtectIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    protected: bool


# -- responses ------------------------------------------------------------------------------------------------


class ViolationOut(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    message: str


class AgentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    number: int | None = msgspec.field(name="agent_id")  # the seed's integer id
    org_id: UUID
    name: str
    description: str | None
    status: AgentStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    current_blueprint_id: UUID | None


class BlueprintOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    agent_id: UUID
    version: int
    agent_blueprint: dict[str, Any]
    created_by: str
    created_at: datetime
    conversation_id: str | None
    compilation_status: CompilationStatus
    compiled_system_prompt: str | None
    compiled_at: datetime | None
    compiled_by: str | None
    compile_errors: list[ViolationOut] | None
    compiler_version: str | None
    message: str | None  # the change note written with it
    compile_warnings: list[ViolationOut] | None  # the compiler's warnings, kept with its outcome


class AgentWithBlueprintOut(msgspec.Struct, frozen=True, kw_only=True):
    agent: AgentOut
    blueprint: BlueprintOut


class AgentDetailOut(msgspec.Struct, frozen=True, kw_only=True):
    agent: AgentOut
    blueprint: BlueprintOut | None  # the active version
    latest_blueprint: BlueprintOut | None  # the newest version


class AgentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AgentOut]
    next_cursor: str | None


class AgentSearchOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AgentOut]


class BlueprintItemOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A version in a list: a summary, and with `?include=document` its document, prompt and compiler output too."""

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
    message: str | None  # the change note
    blueprint_bytes: int  # the document's size in bytes (as stored: PostgreSQL's text form of it)
    prompt_bytes: int | None  # the compiled prompt's size in UTF-8 bytes; null unless compiled
    agent_blueprint: dict[str, Any] | UnsetType = msgspec.UNSET
    compiled_system_prompt: str | UnsetType | None = msgspec.UNSET
    compile_errors: list[ViolationOut] | UnsetType | None = msgspec.UNSET
    compile_warnings: list[ViolationOut] | UnsetType | None = msgspec.UNSET


class BlueprintPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BlueprintItemOut]
    next_cursor: str | None


def blueprint_page(page: Page[ListedVersion]) -> BlueprintPage:
    """Summaries as they are; a whole version adds its document, prompt and compiler output."""
    items = []
    for listed in page.items:
        fields = msgspec.structs.asdict(listed)
        if (whole := fields.pop("whole")) is not None:
            fields |= {"agent_blueprint": whole.agent_blueprint, "compiled_system_prompt": whole.compiled_system_prompt,
                       "compile_errors": whole.compile_errors, "compile_warnings": whole.compile_warnings}  # fmt: skip
        items.append(msgspec.convert(fields, BlueprintItemOut, from_attributes=True))
    return BlueprintPage(items=items, next_cursor=page.next_cursor)


class CompileOut(msgspec.Struct, frozen=True, kw_only=True):
    blueprint: BlueprintOut
    compilation_status: CompilationStatus
    compiled_system_prompt: str | None
    warnings: list[ViolationOut]
    message: str
    label: str | None = None  # the label moved to the version (`?label=`, or production for `?activate=true`)


class CompilationStatusOut(msgspec.Struct, frozen=True, kw_only=True):
    status: CompilationStatus
    compiled_at: datetime | None
    compiled_by: str | None
    errors: list[ViolationOut] | None
    compiler_version: str | None


class LivePromptOut(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: UUID
    blueprint_id: UUID
    version: int
    compiled_system_prompt: str
    compiled_at: datetime
    label: str  # the label it was served by: production unless asked for another


class LabelOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    blueprint_id: UUID
    version: int
    protected: bool  # moved and deleted by owners and admins only; production always
    moved_at: datetime | None  # None: production set before labels existed, or from outside the service
    moved_by: str | None
    read_only: bool  # `latest`: the newest compiled version, never moved


class LabelsOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LabelOut]


class LabelMoveOut(msgspec.Struct, frozen=True, kw_only=True):
    seq: int  # 1, 2, 3 … per label
    blueprint_id: UUID | None  # None: the label was deleted
    version: int | None
    previous_blueprint_id: UUID | None  # None: the label was new
    previous_version: int | None
    moved_by: str
    moved_at: datetime


class LabelHistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LabelMoveOut]
    next_cursor: str | None


class ChangeOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    path: str  # identity.role, tools[name=search].purpose, workflow.steps[2]
    op: Op
    before: Any = msgspec.UNSET  # absent for an addition
    after: Any = msgspec.UNSET  # absent for a removal


class VersionRefOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    version: int
    compilation_status: CompilationStatus  # a failed side has no prompt: prompt_diff is null
    message: str | None  # its change note


class DiffOut(msgspec.Struct, frozen=True, kw_only=True):
    from_: VersionRefOut | None = msgspec.field(name="from")  # null: the empty document before version 1
    to: VersionRefOut
    changes: list[ChangeOut]
    prompt_diff: str | None  # a unified diff of the two prompts; null where one does not compile


class PreviewOut(msgspec.Struct, frozen=True, kw_only=True):
    """What compiling the document would record; nothing was written."""

    compilation_status: CompilationStatus  # compiled or failed
    compiled_system_prompt: str | None
    warnings: list[ViolationOut]
    errors: list[ViolationOut]  # every violation; empty when it compiles


class AuditEventOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    occurred_at: datetime
    actor: str  # the user id of the token that made the change; `operator` for the CLI
    action: Action
    target_id: UUID  # the agent (also for its labels), the version or the token changed
    agent_id: UUID | None  # the agent it is about, also for its versions and labels; null for a token
    details: dict[str, Any]  # an update's `before` and `after`; a label move's `version` and `previous_version`; …


class AuditEventPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AuditEventOut]
    next_cursor: str | None


class StatsOut(msgspec.Struct, frozen=True, kw_only=True):
    total_blueprints: int
    compiled_blueprints: int
    draft_blueprints: int
    failed_blueprints: int
    compilation_rate: float


TokenUser = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_NAME, examples=["shop-runtime"], extra_json_schema={"extra": NOT_BLANK}),
]
TokenName = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_TOKEN_NAME, examples=["Shop Buddy runtime"],
                 extra_json_schema={"extra": NOT_BLANK}),
]  # fmt: skip
Expiry = Annotated[
    datetime, msgspec.Meta(tz=True, description="when the token stops working (with a time zone); never when absent")
]


class TokenIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user_id: TokenUser
    role: Role
    scope: Scope = Scope.MANAGE  # prompt: only live prompts and /whoami, the key to give an LLM runtime
    name: TokenName | None = None
    expires_at: Expiry | None = None


# A secret as this service issues it (domain/tokens.py): documented only, since the domain checks it (422, naming
# `secret`), and also checks the last CHECKSUM_LENGTH characters of the long form, a checksum no pattern can state.
SECRET_PATTERN: Final = f"^{SECRET_PREFIX}[A-Za-z0-9_-]{{{BODY_LENGTH}}}([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})?$"


class RevokeSecretIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    secret: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=256, description="the token's secret, as leaked",
            # Litestar reads `extra` as extra schema keywords (litestar/plugins/core/_msgspec.py); msgspec ignores it.
            extra_json_schema={"extra": {"pattern": SECRET_PATTERN}},
        ),
    ]  # fmt: skip


class TokenOut(msgspec.Struct, frozen=True, kw_only=True):
    """Never the secret: it is shown once, when the token is created."""

    id: UUID
    user_id: str
    role: Role
    scope: Scope
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None  # to the minute
    revoked_at: datetime | None


class IssuedTokenOut(msgspec.Struct, frozen=True, kw_only=True):
    token: TokenOut
    secret: str  # shown this once; store it now: only a hash of it is kept


class TokensPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TokenOut]
    next_cursor: str | None


# An https URL as domain/webhooks.py takes it: a host (ASCII: a name in punycode, or an IPv4 address), a port from 1
# to 65535, no credentials, no fragment, no blanks. That an address is public, and that a host ending in a number is
# an address, are checked there too (422) and said in words.
_PORT: Final = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
WEBHOOK_URL: Final = {"pattern": f"^https://[A-Za-z0-9._~%!$&'()*+,;=-]+(:{_PORT})?([/?][^\\u0000#{_BLANKS}]*)?$"}
WebhookUrl = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_URL, examples=["https://hooks.example.com/org-agents"],
                 description="https; not a loopback, private or link-local address (an address written in short, "
                 "127.1, is read as resolvers read it; a host whose last label is a number must be one), and the "
                 "name must resolve to public addresses (the operator may allow private ones, over http too)",
                 extra_json_schema={"extra": WEBHOOK_URL}),
]  # fmt: skip
WebhookEvents = Annotated[
    list[str],
    msgspec.Meta(min_length=1, max_length=len(SUBSCRIBABLE), examples=[["version.compiled", "label.moved"]],
                 description=f"the events it is told of: one or more of {', '.join(SUBSCRIBABLE)}",
                 # Documented only: the domain checks them (422, naming `events`; domain/webhooks.py).
                 extra_json_schema={"extra": {"items": {"type": "string", "enum": list(SUBSCRIBABLE)}}}),
]  # fmt: skip
WebhookDescription = Annotated[
    str,
    msgspec.Meta(max_length=MAX_WEBHOOK_DESCRIPTION, examples=["cache refresher"], extra_json_schema={"extra": NO_NUL}),
]


class WebhookIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: WebhookUrl
    events: WebhookEvents
    description: WebhookDescription | None = None


class WebhookUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; `"description": null` clears it; `"enabled": true` re-enables an endpoint the
    service disabled."""

    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    events: WebhookEvents | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    description: WebhookDescription | msgspec.UnsetType | None = msgspec.UNSET


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True):
    """Never the secret: it is shown once, when the endpoint is created or its secret rotated."""

    id: UUID
    url: str
    events: list[EventType]
    description: str | None
    enabled: bool
    disabled_reason: str | None  # set when the service disabled it, after its deliveries failed for days
    failing_since: datetime | None  # its first failed attempt since its last delivered one; null: healthy
    created_at: datetime
    updated_at: datetime


class NewWebhookSecretOut(msgspec.Struct, frozen=True, kw_only=True):
    webhook: WebhookOut
    secret: str  # whsec_…: shown this once; receivers verify signatures with it (Standard Webhooks)


class WebhooksPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    event_id: UUID  # the webhook-id header: the same on every attempt
    event_type: EventType
    status: DeliveryStatus
    attempts: int  # since it was last queued
    created_at: datetime
    next_attempt_at: datetime | None  # null once delivered or failed
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None  # why the last attempt got no answer (refused address, timeout, connection refused)
    last_response: str | None  # the start of the receiver's last answer
    delivered_at: datetime | None


class DeliveriesPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeliveryOut]
    next_cursor: str | None


class TestSentOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: UUID
    delivery: DeliveryOut


class WhoamiOut(msgspec.Struct, frozen=True, kw_only=True):
    org_id: UUID
    org_name: str | None
    user_id: str
    role: Role
    scope: Scope
    token_id: UUID | None  # null: a sign-in token of the identity provider
    token_name: str | None
    expires_at: datetime | None


class ProblemOut(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9457 problem details, as every error is answered. `code` names the error (`AgentDeleted`, …); `errors`
    lists every violation of a 400 or 422."""

    status: int
    title: str
    detail: str
    code: str | None = None
    errors: list[ViolationOut] | None = None
    etag: str | None = None  # 412: the agent's current ETag (of a label: its version id; null when it does not exist)
    compilation_status: CompilationStatus | None = None  # 409 VersionNotCompiled: what the version is instead


def to_out(obj: object, kind: type[T]) -> T:
    return msgspec.convert(obj, kind, from_attributes=True)
