"""The Litestar application factory."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from entrypoints.bootstrap import Services, postgres_services
from entrypoints.http.agents import AgentController
from entrypoints.http.auth import provide_principal, require_token, whoami
from entrypoints.http.blueprints import BlueprintController
from entrypoints.http.errors import EXCEPTION_HANDLERS, JSONRequest
from entrypoints.http.health import health, ready
from entrypoints.http.logs import access_log
from entrypoints.http.schemas import MAX_SMALL_BODY_BYTES
from entrypoints.http.ui import ui
from entrypoints.settings import Settings


async def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """The app; with no `services`, the lifespan opens the PostgreSQL pool at `settings.database_url`."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if services is not None:
                app.state.services = services
            else:
                if not settings.database_url:
                    raise RuntimeError("create_app needs settings.database_url or services")
                app.state.services = await stack.enter_async_context(postgres_services(settings, settings.database_url))
            yield

    api = Router(
        path="/",
        route_handlers=[AgentController, BlueprintController],
        guards=[require_token],
        dependencies={"principal": Provide(provide_principal)},
        security=[{"bearer": []}],
    )
    return Litestar(
        route_handlers=[health, ready, whoami, api, ui],
        lifespan=[lifespan],
        dependencies={"services": Provide(provide_services)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JSONRequest,
        middleware=[access_log],
        request_max_body_size=MAX_SMALL_BODY_BYTES,
        logging_config=None,  # the entrypoint (the CLI) configures logging, once
        openapi_config=OpenAPIConfig(
            title="org-agents",
            version="0.1.0",
            description="Organizations' AI agents: versioned blueprints, human-controlled compilation, live prompts.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="oat_…")}
            ),
        ),
    )
