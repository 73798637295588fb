"""Every answer carries the security headers, whichever path sends it: routed by Litestar, refused before a route
is found, or sent from the live cache before routing (issue 20, item 7)."""

from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from application.deps import Deps
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import Client, World, assert_problem

pytestmark = [pytest.mark.anyio, pytest.mark.live_cache]


def assert_secured(response: httpx.Response, cache_control: str | None = "no-store") -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", (response.url, response.headers)
    assert response.headers.get("referrer-policy") == "no-referrer", (response.url, response.headers)
    if cache_control is not None:
        assert response.headers.get("cache-control") == cache_control, (response.url, response.headers)


async def test_authenticated_json_is_never_stored_by_a_cache(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    for path in ("/org-agents", f"/org-agents/{world.live}", "/tokens", "/org-agents/audit-events", "/whoami"):
        response = await client.get(path, headers=owner)
        assert response.status_code == 200, response.text
        assert_secured(response)


async def test_refusals_carry_them_too_those_without_a_route_included(client: Client, world: World) -> None:
    owner = world.acme.owner.headers
    answers = [
        await client.get("/org-agents"),  # 401 from the guard
        await client.get("/org-agents/not-a-uuid", headers=owner),  # 404: no route matches
        await client.get("/no/such/route", headers=owner),
        await client.delete("/health"),  # 405
        await client.post("/org-agents", json={"name": ""}, headers=owner),  # 422
        await client.post("/org-agents", content=b"{", headers=owner | {"content-type": "application/json"}),  # 400
    ]
    for response in answers:
        assert response.status_code >= 400
        assert_secured(response)


async def test_a_404_never_echoes_the_path_it_was_asked_for(client: Client, world: World) -> None:
    probe = "<script>alert(1)</script>"
    for path in (f"/ui/{probe}.js", f"/no/{probe}", f"/org-agents/{probe}"):
        response = await client.get(path, headers=world.acme.owner.headers)
        body = assert_problem(response, 404)
        assert "script" not in body["detail"], body
        assert "script" not in response.text


async def test_the_live_prompt_may_be_kept_privately_and_revalidated_from_memory_and_routed_alike(
    client: Client, deps: Deps, world: World, tmp_path: Path
) -> None:
    path, member = f"/org-agents/{world.live}/prompt", world.acme.member.headers
    fast = await client.get(path, headers=member)
    assert fast.status_code == 200, fast.text
    fast = await client.get(path, headers=member)  # cached by now: sent before routing
    not_modified = await client.get(path, headers=member | {"If-None-Match": fast.headers["etag"]})
    assert not_modified.status_code == 304
    routed_app = create_app(Settings(database_url=None, data_dir=tmp_path, hot_path=False), deps)
    async with AsyncTestClient(routed_app) as routed_client:
        routed = await routed_client.get(path, headers=member)
    for response in (fast, not_modified, routed):
        assert_secured(response, cache_control="private, no-cache")


async def test_the_web_page_and_health_carry_them(client: Client) -> None:
    page, health = await client.get("/"), await client.get("/health")
    assert_secured(page, cache_control="no-cache")  # the page revalidates, so an upgrade shows at once
    assert_secured(health)
