"""Bearer-token authentication: one guard for every protected router; roles are checked by the use cases."""

from typing import Any

from litestar import Request, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from application.tokens import authenticate
from domain.roles import Principal
from entrypoints.bootstrap import Services
from entrypoints.http.errors import PROBLEMS

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="org-agents"'}


async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 unless `Authorization: Bearer <token>` names a live token; the principal goes to the request state."""
    scheme, _sep, secret = connection.headers.get("authorization", "").partition(" ")
    services: Services = connection.app.state.services
    principal = await authenticate(services, secret.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        raise NotAuthorizedException(detail="a valid bearer token is required", headers=CHALLENGE)
    connection.state.principal = principal


def provide_principal(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Principal:
    """Set by the guard. It names `services` only so that Litestar resolves the two one after the other: two
    dependencies of one level are resolved in an anyio task group, which costs more than either (BENCHMARKS.md)."""
    principal: Principal = request.state.principal
    return principal


@get(
    "/whoami",
    operation_id="whoami",
    tags=["operations"],
    guards=[require_token],
    security=[{"bearer": []}],
    responses={401: PROBLEMS[401]},
)
async def whoami(request: Request[Any, Any, Any]) -> Principal:
    """The organization, user and role the bearer token stands for: a quick check that a token works."""
    principal: Principal = request.state.principal
    return principal
