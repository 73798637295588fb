"""The API reference at /schema, in Chromium against a real serve: it renders every operation with nothing but the
server to talk to (every other request is refused and none is made), and a person signed in on the web page who
opens it, from the footer's link or in the very tab that holds the token, cannot have the token read by its scripts:
the page is sandboxed, an opaque origin with no storage (issue 20, item 2; the audit's finding 7)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.browser.conftest import UiServer
from tests.browser.pages import shoot, sign_in

pytestmark = pytest.mark.browser

HTTP_METHODS: Final = {"get", "put", "post", "delete", "patch"}
STORAGE_KEY: Final = "org-agents.token"  # where ui/static/api.js keeps the token
# What a script of the page could do to take the token: read both storages (and the cookies), whatever throws.
ATTACK: Final = """(key) => {
  const attempt = (read) => { try { return read(); } catch (error) { return error.name; } };
  return {
    session: attempt(() => window.sessionStorage.getItem(key)),
    local: attempt(() => window.localStorage.getItem(key)),
    cookie: attempt(() => document.cookie),
    origin: self.origin,
  };
}"""
REFUSED: Final = "SecurityError"
OUT_OF_REACH: Final = {"session": REFUSED, "local": REFUSED, "cookie": REFUSED, "origin": "null"}


def operation_count(server: UiServer) -> int:
    document: dict[str, Any] = httpx.get(f"{server.url}/schema/openapi.json", timeout=30).json()
    return sum(1 for item in document["paths"].values() for method in item if method in HTTP_METHODS)


def watch_for_errors(page: Page) -> list[str]:
    """Script errors and console errors (a refused style or script is one) of a page the fixture did not open."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", on_console)
    return errors


def only_to(server: UiServer, elsewhere: list[str]) -> Callable[[Route], None]:
    def route(route: Route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    return route


def test_the_reference_renders_every_operation_with_nothing_but_the_server_to_talk_to(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    elsewhere: list[str] = []
    asked: list[str] = []
    page.context.route("**/*", only_to(ui_server, elsewhere))
    page.on("request", lambda request: asked.append(request.url))

    page.goto("/schema")
    expect(page.get_by_role("heading", name="org-agents")).to_be_visible()
    expect(page.locator(".opblock-tag", has_text="webhooks")).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(operation_count(ui_server))  # every operation, listed
    create = page.locator(".opblock", has=page.get_by_text("createAgent", exact=True))
    create.locator(".opblock-summary").click()  # opened: its body, its answers, no way to send it from here
    expect(create.get_by_text("AgentCreate").first).to_be_visible()
    expect(create.get_by_role("button", name="Try it out")).to_have_count(0)
    expect(page.get_by_role("button", name="Authorize")).to_be_hidden()  # it would only feed "Try it out"
    shoot(page, shots, "api-reference", full_page=False)

    assert elsewhere == []
    assert asked
    assert all(url.startswith(ui_server.url + "/") for url in asked), asked


def test_the_reference_cannot_read_the_token_of_a_person_signed_in_on_the_web_page(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    token = ui_server.token("docs-reach", "dora", "owner")
    sign_in(page, token)
    on_the_page = page.evaluate(ATTACK, STORAGE_KEY)
    assert on_the_page["session"] == token  # the page keeps it: what an attacker's script would be after
    assert on_the_page["origin"] == ui_server.url

    link = page.locator("footer").get_by_role("link", name="/schema")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    with page.context.expect_page() as opened:
        link.click()
    docs = opened.value
    errors = watch_for_errors(docs)
    expect(docs.get_by_text("createAgent", exact=True)).to_be_visible()
    assert docs.evaluate(ATTACK, STORAGE_KEY) == OUT_OF_REACH
    assert docs.evaluate("[window.opener, document.referrer]") == [None, ""]  # no handle on the page, no address
    shoot(docs, shots, "api-reference-opened-from-the-page", full_page=False)
    docs.close()
    assert errors == []

    # The audit's case: the reference in the very tab whose sessionStorage holds the token.
    page.goto("/schema")
    expect(page.get_by_text("createAgent", exact=True)).to_be_visible()
    assert page.evaluate(ATTACK, STORAGE_KEY) == OUT_OF_REACH
    page.go_back()
    expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()  # still signed in: it was there
    assert page.evaluate(ATTACK, STORAGE_KEY)["session"] == token
