"""Bearer-token authentication: one guard for every protected router; roles are checked by the use cases."""

import re
from typing import Any, Final

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from application.deps import Deps
from application.tokens import authenticate
from domain.roles import Principal
from domain.tokens import MAX_CREDENTIAL

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="org-agents"'}
# RFC 6750's b64token. What it holds is decided later, without IO: a secret of ours or a sign-in token (a JWT).
BEARER: Final = re.compile(f"(?i:bearer) ([A-Za-z0-9._~+/-]{{1,{MAX_CREDENTIAL}}}=*)")


def bearer_secret(authorization: str | None) -> str | None:
    """The credential of an `Authorization` header: the scheme `Bearer` in any case, one space, and a b64token,
    nothing trimmed or normalized; None for anything else. The route's guard and the hot path both read the header
    through this."""
    found = BEARER.fullmatch(authorization) if authorization else None
    return found[1] if found else None


async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 unless `Authorization: Bearer <token>` names a live token; the principal goes to the request state."""
    secret = bearer_secret(connection.headers.get("authorization"))
    deps: Deps = connection.app.state.deps
    principal = None if secret is None else await authenticate(deps, secret)
    if principal is None:
        raise NotAuthorizedException(detail="a valid bearer token is required", headers=CHALLENGE)
    connection.state.principal = principal


def provide_principal(request: Request[Any, Any, Any], deps: NamedDependency[Deps]) -> Principal:
    """Set by the guard. It names `deps` only so that Litestar resolves the two one after the other: two
    dependencies of one level are resolved in an anyio task group, which costs more than either (BENCHMARKS.md)."""
    principal: Principal = request.state.principal
    return principal
