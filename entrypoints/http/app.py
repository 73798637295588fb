"""The Litestar application factory."""

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import cast

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send
from litestar.types.asgi_types import HTTPScope

from application.deps import Deps
from entrypoints.bootstrap import postgres_deps, retention, webhook_deliveries
from entrypoints.http.agents import AgentController
from entrypoints.http.audit import AuditController
from entrypoints.http.auth import provide_principal, require_token
from entrypoints.http.blueprints import BlueprintController
from entrypoints.http.diff import DiffController
from entrypoints.http.docs import ApiReference, docs_router
from entrypoints.http.errors import EXCEPTION_HANDLERS, JSONRequest
from entrypoints.http.headers import secure
from entrypoints.http.health import health, ready
from entrypoints.http.hot_path import answer_from_memory
from entrypoints.http.labels import LabelController
from entrypoints.http.limits import RequestLimits, refuse
from entrypoints.http.live_prompt import RenderedAnswers
from entrypoints.http.logs import access_log, batch_access_lines, flush_access_lines
from entrypoints.http.schemas import MAX_SMALL_BODY_BYTES
from entrypoints.http.tokens import TokenController, revoke_by_secret, who_am_i
from entrypoints.http.ui import ui
from entrypoints.http.webhooks import WebhookController
from entrypoints.metrics import count_unrouted, recording
from entrypoints.serve import take_stop_signals_once_serving
from entrypoints.settings import Settings, configure_logging


def provide_deps(state: State) -> Deps:
    deps: Deps = state.deps
    return deps


class OrgAgentsApp(Litestar):
    """Litestar, with two things in front of routing: the request limits (limits.py), which see every request, and
    the hot path: a live prompt the live cache holds is sent without routing."""

    async def __call__(
        self, scope: Scope | LifeSpanScope, receive: Receive | LifeSpanReceive, send: Send | LifeSpanSend
    ) -> None:
        if scope["type"] == ScopeType.HTTP:
            http = cast("HTTPScope", scope)
            deps: Deps | None = self.state.get("deps")
            limits: RequestLimits = self.state.limits
            if (refused := limits.refusal(deps, http)) is not None:
                await refuse(http, cast("Send", send), *refused)
                return
            if (
                self.state.hot_path
                and http["method"] == "GET"
                and deps is not None
                and await answer_from_memory(deps, self.state.rendered, http, send)
            ):
                return
            receive, send = limits.watched(http, cast("Receive", receive), cast("Send", send))
        await super().__call__(scope, receive, send)


def own_state(settings: Settings, deps: Deps | None) -> dict[str, object]:
    """What an app keeps of its own: the deps it was given (None: its lifespan opens them), what it rendered from
    their data, the limits counting its requests."""
    limits = RequestLimits(
        rate=settings.rate_limit, failure_rate=settings.auth_failure_limit, body_timeout_s=settings.client_timeout_s
    )
    return {"given_deps": deps, "rendered": RenderedAnswers(), "limits": limits, "hot_path": settings.hot_path}


def on_other_deps(app: Litestar, settings: Settings, deps: Deps) -> Litestar:
    """`app`, its state made anew for `deps`, as `create_app(settings, deps)` would make it: tests build one app per
    process this way (building one costs about 0.1 s, and the HTTP tests make some 1,500 clients). Not while its
    lifespan runs."""
    app.state.update(own_state(settings, deps))
    return app


def app_from_env() -> Litestar:
    """The app as each worker of `org-agents serve` builds it: settings from the environment the CLI prepared
    (DATABASE_URL names the database it chose, embedded or not). Once serving, a worker takes the stop signals that
    `serve` held back while it started (entrypoints/serve.py says why)."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings)
    batch_access_lines(sys.stderr.fileno())
    return create_app(settings, on_started=take_stop_signals_once_serving)


def create_app(
    settings: Settings,
    deps: Deps | None = None,
    *,
    on_started: Callable[[Callable[[], None]], None] | None = None,
) -> Litestar:
    """The app; with no `deps`, the lifespan opens the PostgreSQL pool at `settings.database_url` and runs the
    process's webhook deliveries on it."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            stack.callback(flush_access_lines)  # the last of them, once everything else has stopped
            given: Deps | None = app.state.given_deps
            if given is not None:
                app.state.deps = given  # its owner runs the webhook deliveries (bootstrap.webhook_deliveries)
            else:
                if not settings.database_url:
                    raise RuntimeError("create_app needs settings.database_url or deps")
                app.state.deps = await stack.enter_async_context(postgres_deps(settings, settings.database_url))
                # On the deps' own event loop: a test client runs the lifespan on a loop of its own, so deps made
                # elsewhere (tests) must run their deliveries where they were made.
                await stack.enter_async_context(webhook_deliveries(app.state.deps, settings))
                await stack.enter_async_context(retention(app.state.deps, settings))
                if settings.metrics_addr is not None:  # for serve's metrics listener (entrypoints/metrics.py)
                    await stack.enter_async_context(recording(app.state.deps))
            if on_started is not None:
                on_started(app.state.deps.live.close_watches)  # what to do first when asked to stop
            yield

    api = Router(
        path="/",
        route_handlers=[
            AgentController,
            AuditController,
            BlueprintController,
            DiffController,
            LabelController,
            TokenController,
            WebhookController,
        ],
        guards=[require_token],
        dependencies={"principal": Provide(provide_principal, sync_to_thread=False)},
        security=[{"bearer": []}],
    )
    return OrgAgentsApp(
        route_handlers=[health, ready, who_am_i, revoke_by_secret, api, ui],
        state=State(own_state(settings, deps)),
        lifespan=[lifespan],
        dependencies={"deps": Provide(provide_deps, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JSONRequest,
        middleware=[access_log],
        before_send=[secure, count_unrouted],
        request_max_body_size=MAX_SMALL_BODY_BYTES,
        logging_config=None,  # the entrypoint (the CLI) configures logging, once
        openapi_config=OpenAPIConfig(
            title="org-agents",
            version="0.1.0",
            description="Organizations' AI agents: versioned blueprints, human-controlled compilation, live prompts.",
            # Swagger UI from a pinned package, sandboxed under a strict CSP (entrypoints/http/docs.py), beside the
            # documents themselves; no UI that loads scripts from elsewhere.
            render_plugins=[ApiReference(), JsonRenderPlugin(), YamlRenderPlugin()],
            openapi_router=docs_router(),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="oat_…",
                        description="a key minted by `org-agents token create` or `POST /tokens`, or a sign-in JWT "
                        "of the identity provider where the deployment trusts one",
                    )
                }
            ),
        ),
    )
