"""Every error becomes an RFC 9457 problem (application/problem+json), here and nowhere else."""

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    PreconditionFailed,
    Unavailable,
)
from entrypoints.http.schemas import ProblemOut

log = logging.getLogger("org_agents.http")

PROBLEM: Final = "application/problem+json"
RETRY_AFTER_S: Final = "1"

STATUS: Final[Mapping[type[DomainError], int]] = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    PreconditionFailed: 412,
    Invalid: 422,
    Malformed: 400,
    Unavailable: 503,
}
PROBLEMS: Final = {
    status: ResponseSpec(data_container=ProblemOut, media_type=PROBLEM, description=description)
    for status, description in {
        400: "Malformed request: not JSON, or a bad query or path parameter (`errors` names them)",
        401: "Missing, unknown or revoked bearer token",
        403: "The token's role may not do this, or the organization's quota is reached (`QuotaExceeded`: `quota`, "
        "`limit`, `used`)",
        404: "No such agent, version or label in the caller's organization; for the live prompt, nothing is live "
        "under that label (the agent is switched off, or the label does not exist)",
        409: "The agent's, version's or label's state forbids this (deleted agent; version not compiled; production "
        "cannot be deleted nor unprotected)",
        412: "If-Match names an ETag the agent or label no longer has: read it again (the current ETag is in `etag`; "
        "for a label, its version id, null when it does not exist)",
        408: "The request body was not sent within the client timeout",
        413: "Request body too large",
        422: "Well-formed but invalid content: every violation is listed in `errors`",
        429: "Too many requests for this credential, or too many failed authentications from this address; retry "
        "after `Retry-After` seconds",
        503: "The database is unavailable; retry after `Retry-After` seconds",
    }.items()
}
HTTP_CODES: Final = {
    400: "RequestMalformed",
    401: "Unauthenticated",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    413: "BodyTooLarge",
}
REQUEST_PARTS: Final = frozenset({"query", "path", "header", "cookie"})


def problem(
    status: int, detail: str, *, code: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}
    if code:
        body["code"] = code
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM, headers=dict(headers or {}))


def domain_problem(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    return problem(status, str(exc), code=type(exc).__name__, headers=headers, **exc.extra())


NAMED_FIELD: Final = re.compile(r"(?:unknown|missing required) field `([^`]*)`")
NO_BODY: Final = "'data'"  # what Litestar says when a request that needs a body has none at all


def _field(error: Mapping[str, Any]) -> str:
    """The field an error is about, as a client names it: `name`, `agent_blueprint`, `limit`."""
    key = str(error.get("key") or "")
    if key == "data" and (named := NAMED_FIELD.search(str(error.get("message", "")))):
        return named.group(1)
    return "" if key == "data" else key


def validation_problem(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own validation: a body that is JSON but not the expected shape is 422 (invalid content); bad query
    or path parameters, and a body that is not JSON at all, are 400."""
    raw = exc.extra if isinstance(exc.extra, list) else []
    if any(isinstance(e, Mapping) and e.get("key") == "data" and e.get("message") == NO_BODY for e in raw):
        return problem(400, "the request has no body; a JSON object is expected", code="RequestMalformed")
    errors = [{"field": _field(e), "message": str(e.get("message", ""))} for e in raw if isinstance(e, Mapping)]
    sources = {e.get("source") for e in raw if isinstance(e, Mapping)}
    malformed = "JSON" in str(exc.detail) and not errors
    status = 400 if malformed or sources & REQUEST_PARTS or not errors else 422
    detail = "the request body is not valid JSON" if malformed else "the request does not match the schema"
    return problem(status, detail, code="RequestInvalid" if status == 422 else "RequestMalformed", errors=errors)


def http_problem(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's other errors (no route 404, 405, 413, 401 from the guard): same shape, same headers."""
    headers = dict(exc.headers or {})
    extra = exc.extra if isinstance(exc.extra, dict) else {}
    code = HTTP_CODES.get(exc.status_code)
    # Litestar's 404s may quote the path asked for (static files do): the detail never echoes what the client sent.
    detail = "no such resource" if exc.status_code == 404 else str(exc.detail)
    return problem(exc.status_code, detail, code=code, headers=headers, **extra)


def internal_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A bug of ours: logged with its traceback, answered without one."""
    log.exception("unhandled error in %s %s", request.method, request.scope.get("path_template", "?"), exc_info=exc)
    return problem(500, "an internal error occurred; it has been logged")


class JSONRequest(Request[Any, Any, Any]):
    """Litestar's request, but a body nested too deeply to decode, or not UTF-8, is malformed JSON (400), not a
    RecursionError or a UnicodeDecodeError (a 500)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise SerializationException("JSON is malformed: nested too deeply") from None
        except UnicodeDecodeError as exc:
            raise SerializationException(f"JSON is malformed: not UTF-8 (byte {exc.start})") from None


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    DomainError: domain_problem,
    ValidationException: validation_problem,
    HTTPException: http_problem,
    Exception: internal_problem,
}
