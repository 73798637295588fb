"""An agent of the old system, on the web page: a database of the old system is migrated when `serve` starts, and a
person brings its imported agent live from the page alone (the blueprint form opens the old row's version 1, they add
the one field the old system never had, save version 2, compile and activate it); a blueprint in the old item shapes
(plain strings, `expected_response`) opens in the form, and saving it unchanged keeps it as it was."""

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import psycopg
import pytest
from playwright.sync_api import Page, expect
from psycopg.types.json import Jsonb

from tests.browser.conftest import UiServer
from tests.browser.pages import messages, shoot, sign_in, versions_table
from tests.conftest import create_database, database_conninfo, database_url_env, drop_database
from tests.legacy import ONE_ORGANIZATION
from tests.serving import serving

pytestmark = pytest.mark.browser

IN = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "  # between the parts of a field's name: Identity, Name
PURPOSE: Final = "Answer customers' questions about their orders and returns"
ROW: Final = {
    "system_prompt": {"role": "customer_support", "tone": "friendly", "language": "Vietnamese"},
    "tools_list": ["order_lookup"],
    "knowledge_list": ["returns-policy.pdf"],
}
OLD_AGENT: Final = "3b9c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"


OLD_AGENT_ROW: Final = """
    INSERT INTO org_agents (id, agent_id, org_id, name, description, system_prompt, tools_list, knowledge_list,
                            created_by)
    VALUES (%s, 7, '5d1f6c2a-0b7e-4c1e-9d3a-2f4b6c8d0e1f', 'Helpdesk', 'answers order questions', %s, %s, %s,
            'user_Qm9vdGVkRnJvbVRoZU9sZA')
"""


class OldSystem(UiServer):
    """`serve` started on a database of the old system (it migrates it on the way up), and the organization its
    agent was imported into, by the name the migrations gave it."""

    def __init__(self, url: str, env: dict[str, str], org: str) -> None:
        super().__init__(url, env)
        self.org = org


@pytest.fixture(scope="module")
def old_system(pg_admin: str) -> Iterator[OldSystem]:
    name = f"oa_ui_old_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    conninfo = database_conninfo(pg_admin, name)
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute(ONE_ORGANIZATION.encode())
            columns = [Jsonb(ROW[key]) for key in ("system_prompt", "tools_list", "knowledge_list")]
            conn.execute(OLD_AGENT_ROW.encode(), [OLD_AGENT, *columns])
        env = database_url_env(conninfo)
        with serving(env, Path(tempfile.mkdtemp(prefix="org-agents-ui-old-")) / "serve.log") as served:
            with psycopg.connect(conninfo) as conn:
                found = conn.execute(
                    "SELECT o.name FROM org_agents a JOIN agent_organizations o ON o.id = a.org_id WHERE a.id = %s",
                    [OLD_AGENT],
                ).fetchone()
            assert found is not None, "the old agent was not imported"
            yield OldSystem(served.url, env, str(found[0]))
    finally:
        drop_database(pg_admin, name)


@pytest.fixture
def ui_server(old_system: OldSystem) -> UiServer:
    """The pages of this module open on the old system's server (conftest's `page` fixture asks for this one)."""
    return old_system


def versions_of(server: UiServer, token: str, agent: str) -> list[dict[str, Any]]:
    with server.api(token) as http:
        listed = http.get(f"/org-agents/{agent}/blueprints?include=document")
        assert listed.status_code == 200, listed.text
        items: list[dict[str, Any]] = listed.json()["items"]
        return items[::-1]  # oldest first


def test_an_imported_agent_goes_live_from_the_page(page: Page, old_system: OldSystem, shots: Path) -> None:
    owner = old_system.token(old_system.org, "ana", "owner")
    sign_in(page, owner)
    page.get_by_role("link", name="Helpdesk").click()
    expect(page.get_by_role("heading", name="Helpdesk", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()

    # version 1 is the old row: the form shows it (no fallback to JSON) and says its columns are kept and read
    expect(page.get_by_text("The form cannot show this blueprint")).to_have_count(0)
    note = page.locator(".bp-editor .note")
    for column in ("system_prompt", "tools_list", "knowledge_list"):  # in the order jsonb keeps keys
        expect(note).to_contain_text(re.compile(rf"kept as they are \(see JSON\): [a-z_, ]*\b{column}\b"))
    expect(note).to_contain_text("The compiler reads them as the old system's agent row")

    # compiling it names only what the old system never had
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 1 did not compile: 1 problem")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text(f"Identity{IN}Primary purpose: Required, non-blank")
    expect(summary.get_by_role("listitem")).to_have_count(1)
    shoot(page, shots, "legacy-01-version-1-failed")

    # a person adds it in the form and saves version 2
    page.get_by_role("button", name="Edit as a new version").click()
    expect(page.get_by_role("heading", name="New version, based on version 1")).to_be_visible()
    purpose = page.get_by_role("group", name="Identity").get_by_label("Primary purpose")
    expect(purpose).to_have_attribute("aria-invalid", "true")
    purpose.fill(PURPOSE)
    shoot(page, shots, "legacy-02-editing")
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 2 saved as a draft")
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()

    # it compiles: the row's role, tone, tools, knowledge and language, the agent's name, the added purpose
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 2 compiled")
    prompt = page.get_by_label("Compiled system prompt")
    for line in (
        "You are Helpdesk.",
        "Your role: customer_support.",
        f"Your primary purpose: {PURPOSE}.",
        "Your personality: friendly.",
        "- order_lookup",
        "- returns-policy.pdf",
        "- Language: Vietnamese.",
    ):
        expect(prompt).to_contain_text(line)
    expect(page.locator("#compile-result .warnings")).to_contain_text("tools_list[0]: no purpose")

    page.get_by_role("button", name="Activate version 2").click()
    page.get_by_role("dialog", name="Activate version 2?").get_by_role("button", name="Activate version 2").click()
    expect(messages(page)).to_contain_text("Version 2 is live.")
    expect(versions_table(page).get_by_role("row", name=re.compile("Version 2"))).to_contain_text("Live")
    shoot(page, shots, "legacy-03-live")

    v1, v2 = versions_of(old_system, owner, OLD_AGENT)
    assert v1["agent_blueprint"] == ROW  # the old row, untouched
    assert v2["agent_blueprint"] == ROW | {"identity": {"primary_purpose": PURPOSE}}  # the old columns carried over
    with old_system.api(owner) as http:
        live = http.get(f"/org-agents/{OLD_AGENT}/prompt")
    assert live.status_code == 200, live.text
    assert live.json()["compiled_system_prompt"] == v2["compiled_system_prompt"]


OLD_ITEMS: Final = {
    "identity": {"name": "Order Buddy", "role": "Support agent", "primary_purpose": "Answer order questions"},
    "capabilities": ["Track orders"],
    "tools": ["order_lookup"],
    "knowledge_sources": ["Returns policy"],
    "test_scenarios": [{"question": "Where is my order?", "expected_response": "What is your order number?"}],
}


def test_old_item_shapes_open_in_the_form_and_are_written_back_as_they_came(
    page: Page, old_system: OldSystem, shots: Path
) -> None:
    owner = old_system.token("old-items", "bo", "owner")
    with old_system.api(owner) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": "Order Buddy", "agent_blueprint": OLD_ITEMS})
        assert made.status_code == 201, made.text
        agent = made.json()["agent"]["id"]
    sign_in(page, owner)
    page.get_by_role("link", name="Order Buddy").click()
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()

    # the strings are items with their one field, `expected_response` shows as the expected answer
    expect(page.get_by_text("The form cannot show this blueprint")).to_have_count(0)
    expect(page.get_by_role("group", name="Capability 1").get_by_label("Task")).to_have_value("Track orders")
    expect(page.get_by_role("group", name="Tool 1").get_by_label("Name")).to_have_value("order_lookup")
    expect(page.get_by_role("group", name="Knowledge source 1").get_by_label("Source")).to_have_value("Returns policy")
    expect(page.get_by_role("group", name="Test scenario 1").get_by_label("Expected answer")).to_have_value(
        "What is your order number?"
    )

    # unchanged, it is saved as it came; a tool given a purpose becomes an object, the rest stays as written
    page.get_by_role("button", name="Edit as a new version").click()
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    page.get_by_role("button", name="Edit as a new version").click()
    page.get_by_role("group", name="Tool 1").get_by_label("Purpose").fill("Look up an order by its number")
    page.get_by_role("group", name="Test scenario 1").get_by_label("Expected answer").fill("Which order?")
    shoot(page, shots, "legacy-04-old-items-form")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("heading", name="Version 3", level=2, exact=True)).to_be_visible()
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 3 compiled")
    expect(page.get_by_label("Compiled system prompt")).to_contain_text(
        "- order_lookup: Look up an order by its number."
    )

    v1, v2, v3 = (version["agent_blueprint"] for version in versions_of(old_system, owner, agent))
    assert v1 == v2 == OLD_ITEMS
    assert v3 == OLD_ITEMS | {
        "tools": [{"name": "order_lookup", "purpose": "Look up an order by its number"}],
        "test_scenarios": [{"question": "Where is my order?", "expected_response": "Which order?"}],
    }
