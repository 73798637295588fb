"""What several controllers share: query and header parameters, strict bodies, the agent's ETag, examples, the
answer to OPTIONS."""

import re
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Example
from litestar.params import Body, BodyKwarg, HeaderParameter, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.pagination import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT
from domain.agents import Agent, agent_etag
from domain.idempotency import KEY
from entrypoints.http.examples import SHOP_BUDDY
from entrypoints.http.schemas import AgentOut, to_out

AGENT_EXAMPLE: Final = {"name": "Shop Buddy", "description": "Answers shoppers' questions for the clothing store"}
AGENT_WITH_BLUEPRINT_EXAMPLE: Final = AGENT_EXAMPLE | {
    "agent_blueprint": SHOP_BUDDY,
    "conversation_id": "conv-2026-001",
}
VERSION_EXAMPLE: Final = {
    "agent_blueprint": SHOP_BUDDY,
    "conversation_id": "conv-2026-001",
    "message": "Answers questions about returns too",
}
PREVIEW_EXAMPLE: Final = {"agent_blueprint": SHOP_BUDDY}

Limit = Annotated[int | None, Parameter(ge=1, le=MAX_LIMIT, description=f"page size, {DEFAULT_LIMIT} by default")]
# What this service issues as next_cursor: URL-safe base64 without padding (application/pagination.py). Anything
# else is refused here, as the document says; a string of that shape the list did not issue is refused too (400,
# `cursor` named), by the list itself: no pattern can tell them apart.
CURSOR_PATTERN: Final = f"^[A-Za-z0-9_-]{{1,{MAX_CURSOR}}}$"
Cursor = Annotated[
    str | None,
    Parameter(
        pattern=CURSOR_PATTERN,
        max_length=MAX_CURSOR,
        description="next_cursor of the previous page, as given: a cursor this list did not issue is 400",
    ),
]

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match", description="the agent's ETag as you read it: 412 if it changed since (no lost update)"
    ),
]

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="any unique string of 1 to 255 visible ASCII characters (a UUID, say): a retry with the same key "
        "and body gets the first answer and creates nothing; the same key with another body is 422; keys are "
        "forgotten after 24 hours",
        # Documented only: domain/idempotency.py checks the key (400, naming Idempotency-Key), with this pattern.
        schema_extra={"pattern": f"^{KEY.pattern}$"},
    ),
]


def strict_body(*examples: Example) -> BodyKwarg:
    """A JSON body whose struct forbids unknown fields (every request struct in schemas.py does): documented as
    `additionalProperties: false`, so the document refuses what the server refuses (422, naming the field)."""
    body: BodyKwarg = Body(examples=list(examples) or None, schema_extra={"additionalProperties": False})  # typed Any
    return body


async def answer_options(request: Request[Any, Any, Any]) -> Response[None] | None:
    """OPTIONS, answered with every method of the path in `Allow`. Litestar 2's own answer lists only the methods of
    the path's first handler (litestar-org/litestar#4169, fixed in 3): set as each controller's `before_request`.
    Asynchronous although it does no IO: Litestar runs a synchronous hook in a thread, for every request."""
    if request.method != "OPTIONS":
        return None
    methods = request.app.route_handler_method_map.get(next(iter(request.route_handler.paths)), {})
    allowed = {method for method in methods if method not in {"websocket", "asgi"}} | {"OPTIONS"}
    return Response(
        None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(sorted(allowed))}, media_type=MediaType.TEXT
    )


def ensure_single(request: Request[Any, Any, Any], name: str) -> None:
    """A query parameter that names one thing (a label) is refused when repeated: Litestar would take the last value
    and quietly answer for a label the caller may not have meant."""
    if len(request.query_params.getall(name, [])) > 1:
        raise ValidationException(
            "the request does not match the schema",
            extra=[{"key": name, "message": "give it once", "source": "query"}],
        )


def ensure_rfc3339(request: Request[Any, Any, Any], name: str) -> None:
    """Litestar also reads a bare number as a time (seconds since 1970, `until=0.5`); the document promises RFC 3339,
    so a time written otherwise is refused as the schema's other violations are."""
    written = request.query_params.get(name)
    if written is None:
        return
    try:
        msgspec.convert(written, datetime, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            "the request does not match the schema", extra=[{"key": name, "message": str(exc), "source": "query"}]
        ) from None


T = TypeVar("T")
AT_FIELD: Final = re.compile(r"at `\$\.([^`]*)`")


async def strictly(request: Request[Any, Any, Any], kind: type[T]) -> T:
    """The body as `kind`, its JSON types taken at their word. Litestar converts bodies leniently (`0` or `"true"`
    for a boolean: `{"protected": 0}` would unprotect a label), so the decoded body is converted again, strictly;
    a mismatch is the 422 any wrong type gets, naming the field."""
    try:
        return msgspec.convert(await request.json(), kind, strict=True)
    except msgspec.ValidationError as exc:
        field = found[1] if (found := AT_FIELD.search(str(exc))) else ""
        raise ValidationException(
            "the request does not match the schema", extra=[{"key": field, "message": str(exc), "source": "body"}]
        ) from None


def if_match_tags(header: str | None) -> frozenset[str] | None:
    """The strong ETags an If-Match header names ("*" for any); weak ones never match a write (RFC 9110)."""
    if header is None:
        return None
    tags = (tag.strip() for tag in header.split(","))
    return frozenset(tag if tag == "*" else tag.strip('"') for tag in tags if tag and not tag.startswith("W/"))


def etag_header(agent: Agent) -> dict[str, str]:
    """The agent's ETag, the validator a later If-Match sends back."""
    return {"ETag": f'"{agent_etag(agent)}"'}


def agent_response(agent: Agent, status_code: int = 200, **headers: str) -> Response[AgentOut]:
    return Response(to_out(agent, AgentOut), status_code=status_code, headers=etag_header(agent) | headers)
