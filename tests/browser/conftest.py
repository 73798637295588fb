"""Browser tests: Debian's Chromium, driven by Playwright, against a real `org-agents serve` on PostgreSQL.

Playwright's own browser download (`playwright install`) is not used: the browser is the system's Chromium
(`apt-get install chromium`; `.ci/run` installs it when it is missing), or the one ORG_AGENTS_TEST_CHROMIUM names.
Without one these tests fail and say so; they are never skipped. Screenshots of the main screens go to
ORG_AGENTS_TEST_SCREENSHOTS when it is set, otherwise to a temporary directory.
"""

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from application.tokens import CreateToken, create_token
from domain.roles import Role
from entrypoints import bootstrap
from entrypoints.settings import Settings
from tests.conftest import create_database, database_conninfo, database_url_env, drop_database
from tests.serving import serving

CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: Final = {"width": 1280, "height": 800}
PHONE: Final = {"width": 360, "height": 740}
TIMEOUT_MS: Final = 20_000  # generous for a busy CI machine; a passing step takes milliseconds

expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str | None:
    configured = os.environ.get("ORG_AGENTS_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist marks the grouped tests' ids with their groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each module's tests on one worker (pyproject.toml's --dist), which launches its Chromium once."""
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.xdist_group(f"browser-{item.path.stem}"))


@pytest.fixture(scope="module")  # not longer: Playwright's sync API runs an event loop in this thread until it ends
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        pytest.fail(
            "Chromium is not installed, and the browser tests need it: `apt-get install -y chromium` (.ci/run does "
            "this), or set ORG_AGENTS_TEST_CHROMIUM to a Chromium binary. Playwright's own download is not used.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class UiServer:
    """`org-agents serve` on its own database, and the keys and API around it, as an operator would use them."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env

    def token(self, org: str, user: str, role: str) -> str:
        """A key, as `org-agents token create` mints it (tests/e2e/test_cli.py runs the command itself), minted
        in this process: the command costs a second a call, and these tests mint some forty keys."""
        conninfo = self.env["DATABASE_URL"]

        async def mint() -> str:
            settings = Settings(database_url=conninfo, data_dir=Path("/nonexistent"), pool_min_size=1)
            async with bootstrap.postgres_deps(settings, conninfo, follow_changes=False) as deps:
                issued = await create_token(deps, CreateToken(org_name=org, user_id=user, role=Role(role)))
            return issued.secret

        with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's event loop
            return thread.submit(asyncio.run, mint()).result()

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="session")
def ui_server(pg_admin: str) -> Iterator[UiServer]:
    """One server and one fresh database for the test process's browser tests; each works in organizations of its
    own (no two modules name the same one)."""
    name = f"oa_ui_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    env = database_url_env(database_conninfo(pg_admin, name))
    env["ORG_AGENTS_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the webhooks page sends to loopback receivers (tests/receivers.py)
    try:
        with serving(env, Path(tempfile.mkdtemp(prefix="org-agents-ui-")) / "serve.log") as served:
            yield UiServer(served.url, env)
    finally:
        drop_database(pg_admin, name)


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("ORG_AGENTS_TEST_SCREENSHOTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remembers whether the test itself failed, so that its page can be photographed for the report."""
    report: pytest.TestReport = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED: Final = pytest.StashKey[bool]()


def open_page(
    request: pytest.FixtureRequest, browser: Browser, ui_server: UiServer, shots: Path, viewport: Any
) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) on the server; any script error in the page fails the test,
    and a failed test leaves a screenshot of where its page was."""
    context = browser.new_context(viewport=viewport, base_url=ui_server.url, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):  # an API 4xx: expected
            errors.append(f"console: {message.text}")

    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", on_console)
    try:
        yield page
        if request.node.stash.get(FAILED, False):
            page.screenshot(path=shots / f"FAILED-{request.node.name}.png", full_page=True)
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser, ui_server: UiServer, shots: Path) -> Iterator[Page]:
    yield from open_page(request, browser, ui_server, shots, DESKTOP)


@pytest.fixture
def phone(request: pytest.FixtureRequest, browser: Browser, ui_server: UiServer, shots: Path) -> Iterator[Page]:
    yield from open_page(request, browser, ui_server, shots, PHONE)
