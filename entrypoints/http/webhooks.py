"""Webhooks over HTTP: an organization's owners and admins register endpoints, read their delivery logs, retry and
test. The rules are in application/webhooks.py; the delivery worker in entrypoints/webhook_worker.py."""

from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import FromPath

from application.deps import Deps
from application.webhooks import (
    CreateWebhook,
    GetWebhook,
    ListDeliveries,
    ListWebhooks,
    RetryDelivery,
    UpdateWebhook,
    create_webhook,
    delete_webhook,
    get_webhook,
    list_deliveries,
    list_webhooks,
    retry_delivery,
    rotate_webhook_secret,
    send_test_event,
    update_webhook,
)
from domain.roles import Principal
from entrypoints.http.errors import PROBLEMS
from entrypoints.http.params import Cursor, Limit, answer_options, strict_body, strictly
from entrypoints.http.schemas import (
    DeliveriesPage,
    DeliveryOut,
    NewWebhookSecretOut,
    TestSentOut,
    WebhookIn,
    WebhookOut,
    WebhooksPage,
    WebhookUpdate,
    to_out,
)

WEBHOOK_EXAMPLE: Final = {
    "url": "https://hooks.example.com/org-agents",
    "events": ["version.compiled", "label.moved"],
    "description": "refreshes the support bot's prompt cache",
}


class WebhookController(Controller):
    path = "/webhooks"
    before_request = staticmethod(answer_options)
    tags = ("webhooks",)

    @post(operation_id="createWebhook", responses=PROBLEMS, status_code=201)
    async def create_endpoint(
        self,
        data: Annotated[WebhookIn, strict_body(Example(summary="a cache refresher", value=WEBHOOK_EXAMPLE))],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> Response[NewWebhookSecretOut]:
        """An endpoint told of the organization's changes from now on, enabled; the secret (`whsec_…`) is in this
        answer only. Each request is signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
        `webhook-signature`), retried with backoff for about a day until it is answered 2xx. Owners and admins."""
        data = await strictly(request, WebhookIn)
        made = await create_webhook(
            deps, principal, CreateWebhook(url=data.url, events=data.events, description=data.description)
        )
        return Response(
            to_out(made, NewWebhookSecretOut), status_code=201, headers={"Location": f"/webhooks/{made.webhook.id}"}
        )

    @get(operation_id="listWebhooks", responses=PROBLEMS)
    async def list_endpoints(
        self,
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> WebhooksPage:
        """The organization's endpoints, newest first; never a secret. Owners and admins."""
        return to_out(await list_webhooks(deps, principal, ListWebhooks(limit=limit, cursor=cursor)), WebhooksPage)

    @get("/{webhook_id:uuid}", operation_id="getWebhook", responses=PROBLEMS)
    async def get_endpoint(
        self, webhook_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> WebhookOut:
        """One endpoint; never its secret. Owners and admins."""
        return to_out(await get_webhook(deps, principal, GetWebhook(webhook_id=webhook_id)), WebhookOut)

    @patch("/{webhook_id:uuid}", operation_id="updateWebhook", responses=PROBLEMS)
    async def update_endpoint(
        self,
        webhook_id: FromPath[UUID],
        data: Annotated[WebhookUpdate, strict_body(Example(summary="switch it off", value={"enabled": False}))],
        request: Request[Any, Any, Any],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> WebhookOut:
        """Change the URL, the events, the description, or switch it off and on. Switched off, it is sent nothing
        and its changes are not queued for it; its pending deliveries wait. Owners and admins."""
        data = await strictly(request, WebhookUpdate)
        changed = await update_webhook(
            deps, principal,
            UpdateWebhook(webhook_id=webhook_id, url=data.url, events=data.events, enabled=data.enabled,
                          description=data.description),
        )  # fmt: skip
        return to_out(changed, WebhookOut)

    @delete("/{webhook_id:uuid}", operation_id="deleteWebhook", responses=PROBLEMS, status_code=204)
    async def delete_endpoint(
        self, webhook_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> None:
        """The endpoint and its delivery log; nothing more is sent to it. Owners and admins."""
        await delete_webhook(deps, principal, GetWebhook(webhook_id=webhook_id))

    @post("/{webhook_id:uuid}/rotate-secret", operation_id="rotateWebhookSecret", responses=PROBLEMS, status_code=200)
    async def rotate_secret(
        self, webhook_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> NewWebhookSecretOut:
        """A new secret, in this answer only. For 24 hours each request carries two signatures, by the new and the
        old secret, so receivers switch without missing one. Owners and admins."""
        return to_out(
            await rotate_webhook_secret(deps, principal, GetWebhook(webhook_id=webhook_id)), NewWebhookSecretOut
        )

    @post("/{webhook_id:uuid}/test", operation_id="testWebhook", responses=PROBLEMS, status_code=202)
    async def send_test(
        self, webhook_id: FromPath[UUID], deps: NamedDependency[Deps], principal: NamedDependency[Principal]
    ) -> TestSentOut:
        """Queues a `webhook.test` event to this endpoint only (even while it is switched off); its delivery shows in
        the log within a second or so. Owners and admins."""
        return to_out(await send_test_event(deps, principal, GetWebhook(webhook_id=webhook_id)), TestSentOut)

    @get("/{webhook_id:uuid}/deliveries", operation_id="listWebhookDeliveries", responses=PROBLEMS)
    async def delivery_log(
        self,
        webhook_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> DeliveriesPage:
        """The endpoint's delivery log, newest first: each event's status (`pending`, `delivered`, `failed`),
        attempts, last answer and next attempt. Owners and admins."""
        page = await list_deliveries(deps, principal, ListDeliveries(webhook_id=webhook_id, limit=limit, cursor=cursor))
        return to_out(page, DeliveriesPage)

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/retry", operation_id="retryWebhookDelivery",
        responses=PROBLEMS, status_code=202,
    )  # fmt: skip
    async def retry_one(
        self,
        webhook_id: FromPath[UUID],
        delivery_id: FromPath[UUID],
        deps: NamedDependency[Deps],
        principal: NamedDependency[Principal],
    ) -> DeliveryOut:
        """Sends a delivery again, now, with a new schedule of attempts: a failed one, a pending one (its backoff
        skipped), or a delivered one (with the same event id: receivers deduplicate on it). Owners and admins."""
        again = await retry_delivery(deps, principal, RetryDelivery(webhook_id=webhook_id, delivery_id=delivery_id))
        return to_out(again, DeliveryOut)
