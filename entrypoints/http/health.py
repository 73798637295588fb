"""Liveness and readiness, for load balancers and orchestrators; no token needed."""

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from application.deps import Deps


class HealthOut(msgspec.Struct, frozen=True):
    status: str


@get("/health", operation_id="health", tags=["operations"], sync_to_thread=False)
def health() -> HealthOut:
    """The process is up. Never touches the database."""
    return HealthOut(status="ok")


@get("/ready", operation_id="ready", tags=["operations"])
async def ready(deps: NamedDependency[Deps]) -> Response[HealthOut]:
    """The service can serve requests: the database answers within the pool timeout. 503 otherwise."""
    if await deps.ready():
        return Response(HealthOut(status="ready"), status_code=HTTP_200_OK)
    return Response(
        HealthOut(status="database unavailable"), status_code=HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "1"}
    )
