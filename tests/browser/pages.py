"""What the browser tests do and look for on the page, shared by its test modules."""

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect


def sign_in(page: Page, token: str) -> None:
    page.goto("/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Agents", level=1)).to_be_visible()


def messages(page: Page) -> Locator:
    return page.locator("#messages")


def shoot(page: Page, shots: Path, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=shots / f"{name}.png", full_page=full_page)


def versions_table(page: Page) -> Locator:
    """The agent page's version history (the page has other tables: its labels, a label's history)."""
    return page.get_by_role("table", name=re.compile("^Versions of"))


def main_nav(page: Page) -> Locator:
    """The header's links: Agents, New agent, and for owners and admins Activity and Keys."""
    return page.get_by_role("navigation", name="Main")


def events(scope: Page | Locator) -> Locator:
    """The sentences of an activity feed, newest first (the organization's view, or an agent page's section)."""
    return scope.locator(".activity li.event")


def fits_width(page: Page) -> bool:
    """No horizontal scrolling: the document is no wider than the viewport."""
    width: Any = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return int(width) <= 0


def agent_id_of(page: Page) -> str:
    found = re.search(r"#/agents/([0-9a-f-]{36})", page.url)
    assert found, page.url
    return found.group(1)
