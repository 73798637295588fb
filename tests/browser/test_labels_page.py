"""Release labels on the web page: an owner compiles two versions, sends the second to staging, promotes staging to
production and rolls production back from its history, the live prompt following each step; a move someone made
meanwhile is refused and said so; protecting and deleting ask first. A member sees what a protected label forbids
disabled and explained, and moves an unprotected label."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from domain.labels import LATEST, MAX_NAME, NAME_PATTERN, PRODUCTION
from entrypoints.http.examples import shop_buddy
from tests.browser.conftest import UiServer
from tests.browser.pages import agent_id_of, fits_width, messages, shoot, sign_in, versions_table

pytestmark = pytest.mark.browser

EMBEDDED = re.compile(r"^const DOMAIN = (\{$.*?^\});$", re.MULTILINE | re.DOTALL)  # the JSON /ui/domain.js states
CHEERFUL = "Cheerful and brief"  # version 2's personality: its prompt says so, version 1's does not


def labels_table(page: Page) -> Locator:
    return page.get_by_role("table", name=re.compile("^Release labels of"))


def label_row(page: Page, name: str) -> Locator:
    """The label's row: its header cell names it (on a phone, after the column's name)."""
    return labels_table(page).get_by_role("row").filter(has=page.get_by_role("rowheader").get_by_text(name, exact=True))


def live_prompt(server: UiServer, token: str, agent: str, label: str | None = None) -> dict[str, Any]:
    with server.api(token) as http:
        served = http.get(f"/org-agents/{agent}/prompt", params={"label": label} if label else None)
    assert served.status_code == 200, served.text
    body: dict[str, Any] = served.json()
    return body


def two_drafts(server: UiServer, token: str, name: str) -> tuple[str, list[str]]:
    """An agent made through the API with two draft versions whose prompts differ."""
    cheerful = shop_buddy()
    cheerful["identity"]["personality"] = CHEERFUL
    with server.api(token) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        agent = made.json()["agent"]["id"]
        v2 = http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": cheerful})
        assert v2.status_code == 201, v2.text
    return agent, [made.json()["blueprint"]["id"], v2.json()["id"]]


def test_an_owner_stages_a_version_promotes_it_and_rolls_production_back_from_its_history(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("labels", "lena", "owner")
    agent, (v1, v2) = two_drafts(ui_server, owner, "Label Journey")
    sign_in(page, owner)
    page.get_by_role("link", name="Label Journey").click()
    expect(page.get_by_text("No labels yet")).to_be_visible()
    expect(page.get_by_role("button", name="Move label")).to_be_disabled()
    expect(page.locator("#move-note")).to_contain_text("No compiled version yet")
    expect(page.get_by_role("button", name="Move a label to version 2…")).to_have_accessible_description(
        "A draft cannot carry a label: compile it first."
    )

    # compile both versions; version 1 goes live the usual way, which is production's first move
    versions_table(page).get_by_role("link", name="Version 1").click()
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 1 compiled")
    page.get_by_role("button", name="Activate version 1").click()
    page.get_by_role("dialog").get_by_role("button", name="Activate version 1").click()
    expect(page.locator("#live-version")).to_have_text("Version 1")
    versions_table(page).get_by_role("link", name="Version 2").click()
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 2 compiled")
    expect(page.locator("#label-summary")).to_have_text(re.compile(r"production Version 1\s*latest Version 2"))

    # staging, a new label, on version 2: the form starts from the opened version
    expect(page.get_by_label("To version")).to_have_value(v2)
    page.get_by_label("Label", exact=True).select_option(label="A new label…")
    page.get_by_label("New label's name").fill("Staging!")
    page.get_by_role("button", name="Move label").click()
    expect(page.get_by_label("New label's name")).to_have_accessible_description(
        re.compile("starting with a letter or digit")
    )
    page.get_by_label("New label's name").fill("staging")
    expect(page.locator("#move-note")).to_have_text("staging: a new label, at version 2")
    page.get_by_role("button", name="Move label").click()
    dialog = page.get_by_role("dialog", name="Move staging to version 2?")
    expect(dialog).to_contain_text("staging: a new label, at version 2")
    expect(dialog).to_contain_text("starts unprotected")
    dialog.get_by_role("button", name="Move staging").click()
    expect(messages(page)).to_contain_text("staging now points at version 2.")
    expect(label_row(page, "staging")).to_contain_text("Version 2")
    expect(label_row(page, "staging")).to_contain_text("by lena")
    row_v2 = versions_table(page).get_by_role("row", name=re.compile("^Version 2"))
    expect(row_v2.locator(".badge.label")).to_have_text(["latest", "staging"])
    assert live_prompt(ui_server, owner, agent, "staging")["version"] == 2
    assert live_prompt(ui_server, owner, agent)["version"] == 1

    # what nobody may do is disabled and says why
    expect(
        label_row(page, "production").get_by_role("button", name="Delete production")
    ).to_have_accessible_description("production cannot be deleted: deactivate the agent to stop serving it.")
    expect(label_row(page, "production").get_by_role("button", name="Unprotect production")).to_be_disabled()
    expect(label_row(page, "latest").get_by_role("button", name="Move latest")).to_have_accessible_description(
        re.compile("latest always names the newest compiled version")
    )

    # promote staging to production: the confirmation says which version replaces which
    label_row(page, "staging").get_by_role("button", name="Promote staging to production").click()
    dialog = page.get_by_role("dialog", name="Promote staging to production?")
    expect(dialog).to_contain_text("production: version 1 will be replaced by version 2")
    shoot(page, shots, "20-promote-dialog", full_page=False)
    dialog.get_by_role("button", name="Promote to production").click()
    expect(messages(page)).to_contain_text("Promoted: production is version 2, as staging is.")
    expect(page.locator("#live-version")).to_have_text("Version 2")
    expect(row_v2.locator(".badge.label")).to_have_text(["production", "latest", "staging"])
    expect(label_row(page, "staging").get_by_role("button", name="Promote staging to production")).to_be_disabled()
    live = live_prompt(ui_server, owner, agent)
    assert (live["blueprint_id"], live["version"], live["label"]) == (v2, 2, "production")
    assert f"Your personality: {CHEERFUL}" in live["compiled_system_prompt"]
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, shots, "21-labels")

    # someone moves staging behind the page's back: the page's move is refused, said so, and the page reloaded
    with ui_server.api(owner) as http:
        assert http.put(f"/org-agents/{agent}/labels/staging", json={"blueprint_id": v1}).status_code == 200
    label_row(page, "staging").get_by_role("button", name="Move staging").click()
    expect(page.get_by_label("To version")).to_be_focused()
    page.get_by_label("To version").select_option(v1)
    expect(page.locator("#move-note")).to_have_text("staging: version 2 → version 1")
    page.get_by_role("button", name="Move label").click()
    page.get_by_role("dialog").get_by_role("button", name="Move staging").click()
    expect(messages(page)).to_contain_text("Someone moved staging meanwhile (it now points at version 1)")
    expect(messages(page)).to_contain_text("nothing was changed")
    expect(label_row(page, "staging")).to_contain_text("Version 1")
    shoot(page, shots, "22-moved-meanwhile", full_page=False)

    # roll production back to version 1 from its history
    label_row(page, "production").get_by_role("button", name="History of production").click()
    history = page.get_by_role("table", name=re.compile("^Every move of production"))
    expect(page.get_by_role("heading", name="History of production")).to_be_focused()
    expect(history.get_by_role("row")).to_have_count(3)
    expect(history.get_by_role("row").nth(1)).to_contain_text("version 1 → version 2")
    expect(history.get_by_role("row").nth(1)).to_contain_text("current")
    expect(history.get_by_role("row").nth(2)).to_contain_text("created at version 1")
    expect(history.get_by_role("row").nth(2)).to_contain_text("lena")
    history.get_by_role("button", name="Roll back production to version 1").click()
    dialog = page.get_by_role("dialog", name="Roll back production to version 1?")
    expect(dialog).to_contain_text("production: version 2 will be replaced by version 1")
    dialog.get_by_role("button", name="Roll back production").click()
    expect(messages(page)).to_contain_text("Rolled back: production is version 1 again.")
    expect(page.locator("#live-version")).to_have_text("Version 1")
    expect(history.get_by_role("row")).to_have_count(4)
    expect(history.get_by_role("row").nth(1)).to_contain_text("version 2 → version 1")
    live = live_prompt(ui_server, owner, agent)
    assert (live["blueprint_id"], live["version"]) == (v1, 1)
    assert CHEERFUL not in live["compiled_system_prompt"]
    shoot(page, shots, "23-production-history")

    # protect staging, then delete it: each asks first; its history ends with the deletion
    label_row(page, "staging").get_by_role("button", name="Protect staging").click()
    dialog = page.get_by_role("dialog", name="Protect staging?")
    expect(dialog).to_contain_text("Only owners and admins can then move or delete staging")
    dialog.get_by_role("button", name="Protect staging").click()
    expect(messages(page)).to_contain_text("staging is protected")
    expect(label_row(page, "staging")).to_contain_text("Protected: only an owner or admin can move or delete it.")
    expect(label_row(page, "staging").get_by_role("button", name="Unprotect staging")).to_be_enabled()
    label_row(page, "staging").get_by_role("button", name="History of staging").click()
    label_row(page, "staging").get_by_role("button", name="Delete staging").click()
    dialog = page.get_by_role("dialog", name="Delete the label staging?")
    expect(dialog).to_contain_text("runtimes asking for staging get “not found”")
    page.keyboard.press("Escape")
    expect(label_row(page, "staging")).to_be_visible()
    label_row(page, "staging").get_by_role("button", name="Delete staging").click()
    dialog.get_by_role("button", name="Delete staging").click()
    expect(messages(page)).to_contain_text("The label staging is deleted.")
    expect(label_row(page, "staging")).to_have_count(0)
    staging_history = page.get_by_role("table", name=re.compile("^Every move of staging"))
    expect(staging_history.get_by_role("row").nth(1)).to_contain_text("deleted (it was at version 1)")
    expect(staging_history.get_by_role("row")).to_have_count(4)  # the header; created, moved, deleted
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}/labels/staging").status_code == 404
        assert http.get(f"/org-agents/{agent}/prompt", params={"label": "staging"}).status_code == 404
        names = [label["name"] for label in http.get(f"/org-agents/{agent}/labels").json()["items"]]
    assert names == ["production", "latest"]
    assert agent_id_of(page) == agent


def test_a_member_sees_what_protection_forbids_disabled_and_explained_and_moves_an_unprotected_label(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("label-members", "omar", "owner")
    agent, (v1, v2) = two_drafts(ui_server, owner, "Member Labels")
    with ui_server.api(owner) as http:
        assert http.post(f"/org-agents/{agent}/blueprints/{v1}/compile", params={"activate": "true"}).is_success
        assert http.post(f"/org-agents/{agent}/blueprints/{v2}/compile", params={"label": "staging"}).is_success
        assert http.patch(f"/org-agents/{agent}/labels/staging", json={"protected": True}).is_success
        assert http.put(f"/org-agents/{agent}/labels/canary", json={"blueprint_id": v1}).is_success
        assert http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}).is_success
    member = ui_server.token("label-members", "mina", "member")

    sign_in(page, member)
    page.get_by_role("link", name="Member Labels").click()
    expect(page.get_by_role("heading", name="Version 3", level=2, exact=True)).to_be_visible()
    expect(page.locator("#label-summary")).to_have_text(
        re.compile(r"production Version 1\s*latest Version 2\s*canary Version 1\s*staging Version 2")
    )

    only_managers = re.compile("only an owner or admin")
    production, staging, canary = (label_row(page, name) for name in ("production", "staging", "canary"))
    for button in [
        production.get_by_role("button", name="Move production"),
        staging.get_by_role("button", name="Move staging"),
        staging.get_by_role("button", name="Delete staging"),
        staging.get_by_role("button", name="Promote staging to production"),
        label_row(page, "latest").get_by_role("button", name="Promote latest to production"),
    ]:
        expect(button).to_be_disabled()
        expect(button).to_have_accessible_description(only_managers)
    for button in [
        staging.get_by_role("button", name="Unprotect staging"),
        canary.get_by_role("button", name="Protect canary"),
    ]:
        expect(button).to_be_disabled()
        expect(button).to_have_accessible_description("Only an owner or admin can protect or unprotect a label.")
    expect(canary.get_by_role("button", name="Promote canary to production")).to_have_accessible_description(
        "production already points at version 1."
    )
    expect(production).to_contain_text("Protected: only an owner or admin can move it; it cannot be deleted.")
    expect(staging).to_contain_text("Protected: only an owner or admin can move or delete it.")
    expect(canary).to_contain_text("Not protected: any role can move or delete it.")
    expect(staging.get_by_role("button", name="History of staging")).to_be_enabled()
    expect(canary.get_by_role("button", name="Move canary")).to_be_enabled()
    expect(canary.get_by_role("button", name="Delete canary")).to_be_enabled()

    # the form: a protected label cannot be sent, a draft cannot be chosen, and both say why
    expect(page.get_by_role("button", name="Move a label to version 3…")).to_be_disabled()
    expect(page.get_by_role("option", name=re.compile("^Version 3 — draft: compile it first"))).to_be_disabled()
    page.get_by_label("Label", exact=True).select_option("production")
    expect(page.get_by_role("button", name="Move label")).to_be_disabled()
    expect(page.get_by_role("button", name="Move label")).to_have_accessible_description(
        "production is protected: only an owner or admin can move it."
    )
    shoot(page, shots, "24-member-labels")

    # an unprotected label is anyone's to move: from version 2's panel
    versions_table(page).get_by_role("link", name="Version 2").click()
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    page.get_by_role("button", name="Move a label to version 2…").click()
    expect(page.get_by_label("Label", exact=True)).to_be_focused()
    expect(page.get_by_label("To version")).to_have_value(v2)
    page.get_by_label("Label", exact=True).select_option("canary")
    expect(page.locator("#move-note")).to_have_text("canary: version 1 → version 2")
    page.get_by_role("button", name="Move label").click()
    page.get_by_role("dialog", name="Move canary to version 2?").get_by_role("button", name="Move canary").click()
    expect(messages(page)).to_contain_text("canary now points at version 2.")
    expect(canary).to_contain_text("by mina")
    with ui_server.api(member) as http:
        moved = http.get(f"/org-agents/{agent}/labels/canary").json()
        history = http.get(f"/org-agents/{agent}/labels/canary/history").json()["items"]
    assert (moved["blueprint_id"], moved["moved_by"]) == (v2, "mina")
    assert [(m["previous_version"], m["version"], m["moved_by"]) for m in history] == [
        (1, 2, "mina"),
        (None, 1, "omar"),
    ]


def test_the_labels_fit_a_phone_screen(phone: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("label-phone", "pia", "owner")
    agent, (v1, v2) = two_drafts(ui_server, owner, "Phone Labels")
    with ui_server.api(owner) as http:
        assert http.post(f"/org-agents/{agent}/blueprints/{v1}/compile", params={"activate": "true"}).is_success
        assert http.post(f"/org-agents/{agent}/blueprints/{v2}/compile", params={"label": "staging"}).is_success
    sign_in(phone, owner)
    phone.get_by_role("link", name="Phone Labels").click()
    label_row(phone, "production").get_by_role("button", name="History of production").click()
    expect(phone.get_by_role("heading", name="History of production")).to_be_visible()
    assert fits_width(phone)
    shoot(phone, shots, "25-phone-labels")


def test_the_page_is_told_the_label_rules_of_the_domain(ui_server: UiServer) -> None:
    with httpx.Client(base_url=ui_server.url, timeout=30) as http:
        module = http.get("/ui/domain.js")
    assert module.status_code == 200
    found = EMBEDDED.search(module.text)
    assert found, module.text
    assert json.loads(found.group(1))["labels"] == {
        "production": PRODUCTION,
        "latest": LATEST,
        "name_pattern": NAME_PATTERN,
        "name_chars": MAX_NAME,
    }
    assert re.search(r"^export const \{ labels: LABELS \} = DOMAIN;$", module.text, re.MULTILINE)
