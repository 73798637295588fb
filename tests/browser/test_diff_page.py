"""What changed, on the web page: a person checks a draft before saving it (its violation shows next to its field,
nothing is written), fixes it, saves it with a change note, compiles it (its warning is kept with it), compares it
with the version before and with any other, and sees what goes live inside the confirmation of activating it; the
promotion of a label shows the same; a member checks a draft too; the views fit a phone."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from domain.blueprints import MAX_MESSAGE
from domain.document import UNKNOWN_FIELD
from entrypoints.http.examples import shop_buddy
from tests.browser.conftest import UiServer
from tests.browser.pages import fits_width, messages, shoot, sign_in, versions_table

pytestmark = pytest.mark.browser

IN = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "  # between the parts of a field's name: Identity, Role
EMBEDDED = re.compile(r"^const DOMAIN = (\{$.*?^\});$", re.MULTILINE | re.DOTALL)  # the JSON /ui/domain.js states
OLD_ROLE = shop_buddy()["identity"]["role"]
NEW_ROLE = "Personal stylist for a clothing store"
NOTE = "The role is now a stylist"
OLD_LINE = f"-Your role: {OLD_ROLE}."  # the prompt's line for the role, as the unified diff removes and adds it
NEW_LINE = f"+Your role: {NEW_ROLE}."


def pronouned() -> dict[str, Any]:
    """Shop Buddy with a field the compiler does not know: it compiles, with a warning about that field."""
    doc = shop_buddy()
    doc["identity"]["pronouns"] = "they/them"
    return doc


def restyled() -> dict[str, Any]:
    doc = pronouned()
    doc["identity"]["role"] = NEW_ROLE
    return doc


def live_agent(server: UiServer, token: str, name: str) -> tuple[str, str]:
    """An agent made through the API whose version 1 is compiled and live."""
    with server.api(token) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": pronouned()})
        assert made.status_code == 201, made.text
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        compiled = http.post(f"/org-agents/{agent}/blueprints/{v1}/compile", params={"activate": "true"})
        assert compiled.status_code == 200, compiled.text
    return str(agent), str(v1)


def restyled_version(server: UiServer, token: str, agent: str, **compile_params: str) -> str:
    """Version 2, the role changed, saved with NOTE and compiled (with `compile_params`: ?label=staging …)."""
    with server.api(token) as http:
        made = http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": restyled(), "message": NOTE})
        assert made.status_code == 201, made.text
        v2 = str(made.json()["id"])
        compiled = http.post(f"/org-agents/{agent}/blueprints/{v2}/compile", params=compile_params)
        assert compiled.status_code == 200, compiled.text
    return v2


def versions_of(server: UiServer, token: str, agent: str) -> list[dict[str, Any]]:
    with server.api(token) as http:
        listed = http.get(f"/org-agents/{agent}/blueprints?include=document")
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def changes_rows(scope: Locator) -> Locator:
    return scope.locator("table.changes tbody tr")


def change_row(scope: Locator, path: str) -> Locator:
    return changes_rows(scope).filter(has=scope.page.locator("code.path").get_by_text(path, exact=True))


def expect_role_change(scope: Locator, before: str, after: str) -> None:
    """The diff's one change, identity.role from `before` to `after`, and the prompt's two lines for it."""
    expect(changes_rows(scope)).to_have_count(1)
    row = change_row(scope, "identity.role")
    expect(row.get_by_role("rowheader")).to_contain_text(f"Identity{IN}Role")
    expect(row.get_by_role("cell").nth(0)).to_have_text("Changed")
    expect(row.locator("td.before")).to_have_text(before)
    expect(row.locator("td.after")).to_have_text(after)


def test_a_person_checks_a_draft_saves_it_with_a_note_compares_it_and_sees_what_goes_live(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("diffs", "dora", "owner")
    agent, v1 = live_agent(ui_server, owner, "Diff Journey")
    sign_in(page, owner)
    page.get_by_role("link", name="Diff Journey").click()
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()

    # a draft with its role left blank: Check shows the violation next to the field, and saves nothing
    page.get_by_role("button", name="New version", exact=True).click()
    identity = page.get_by_role("group", name="Identity")
    role = identity.get_by_label("Role")
    expect(role).to_have_value(OLD_ROLE)
    role.fill("")
    page.get_by_role("button", name="Check").click()
    result = page.locator("#check-result")
    expect(result).to_contain_text("It does not compile yet: 1 problem, shown next to their fields.")
    expect(role).to_have_attribute("aria-invalid", "true")
    expect(role).to_have_accessible_description(re.compile("Required, non-blank"))
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(f"Identity{IN}Role: Required, non-blank")
    expect(identity.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    shoot(page, shots, "30-check-failed", full_page=False)
    assert [v["version"] for v in versions_of(ui_server, owner, agent)] == [1]

    # fixed: the old verdict says it is out of date, and a new check finds it compiles, with its warning
    role.fill(NEW_ROLE)
    expect(result).to_contain_text("changed since: check again")
    page.get_by_role("button", name="Check").click()
    expect(result).to_contain_text("Looks good: it compiles.")
    expect(result).to_be_focused()
    expect(result.locator(".warnings")).to_contain_text(f"identity.pronouns: {UNKNOWN_FIELD}")
    expect(role).not_to_have_attribute("aria-invalid", "true")
    expect(summary).to_be_hidden()
    shoot(page, shots, "31-check-passed", full_page=False)
    result.get_by_text("Show the prompt it gives").click()
    expect(result.locator("pre.prompt")).to_contain_text(f"Your role: {NEW_ROLE}.")
    assert [v["version"] for v in versions_of(ui_server, owner, agent)] == [1]

    # saved with a change note: the note is in the history and in the version's panel
    note = page.get_by_label("What changed?")
    note.fill(NOTE)
    expect(note).to_have_accessible_description(re.compile(f"{len(NOTE)} of {MAX_MESSAGE:,} characters"))
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 2 saved as a draft")
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    expect(versions_table(page).get_by_role("row", name=re.compile("^Version 2"))).to_contain_text(NOTE)
    expect(versions_table(page).get_by_role("row", name=re.compile("^Version 1"))).not_to_contain_text(NOTE)
    expect(page.locator("#version-note-text")).to_have_text(NOTE)
    expect(page.get_by_role("definition").filter(has_text=NOTE)).to_be_visible()
    page.get_by_role("heading", name="Version history").scroll_into_view_if_needed()
    shoot(page, shots, "32-history-with-note", full_page=False)
    saved = versions_of(ui_server, owner, agent)
    assert [(v["version"], v["message"]) for v in saved] == [(2, NOTE), (1, None)]
    assert saved[0]["agent_blueprint"] == restyled()
    v2 = saved[0]["id"]

    # compiled: its warning is kept with it, so a fresh page shows it too
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 2 compiled, with 1 warning")
    page.reload()
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    expect(page.locator("#compile-result .warnings")).to_contain_text(f"identity.pronouns: {UNKNOWN_FIELD}")
    page.get_by_role("heading", name="Version 2", level=2, exact=True).scroll_into_view_if_needed()
    shoot(page, shots, "33-stored-warnings", full_page=False)

    # what changed in version 2: the role, before and after side by side, and the prompt's line for it
    versions_table(page).get_by_role("button", name="What changed in version 2").click()
    card = page.locator(".compare-card")
    expect(page.get_by_role("heading", name="Compare versions")).to_be_focused()
    expect(card.locator("#compare-title")).to_have_text("Version 1 → version 2")
    expect_role_change(card, OLD_ROLE, NEW_ROLE)
    expect(card.locator(".notes")).to_contain_text(f"Version 2: {NOTE}")
    diff = card.locator("pre.prompt-diff")
    expect(diff.locator(".line.head")).to_have_text(["--- version 1", "+++ version 2"])
    expect(diff.locator(".line.del")).to_have_text([OLD_LINE])
    expect(diff.locator(".line.add")).to_have_text([NEW_LINE])
    expect(card).to_contain_text("1 line added, 1 removed")
    assert fits_width(page)
    card.scroll_into_view_if_needed()
    shoot(page, shots, "34-compare", full_page=False)

    # any two versions: swapped, the change runs the other way; version 1 alone is compared with nothing
    card.get_by_role("button", name="Swap").click()
    expect(card.locator("#compare-title")).to_have_text("Version 2 → version 1")
    expect_role_change(card, NEW_ROLE, OLD_ROLE)
    expect(diff.locator(".line.add")).to_have_text([f"+Your role: {OLD_ROLE}."])
    card.get_by_label("From").select_option(label="Previous")
    expect(card.locator("#compare-title")).to_have_text("Version 1, from an empty blueprint")
    expect(change_row(card, "identity").get_by_role("cell").nth(0)).to_have_text("Added")
    expect(card).to_contain_text("Version 1 is the first: there is no earlier prompt to compare with.")
    card.get_by_label("From").select_option(label="Version 1")
    card.get_by_label("To").select_option(label="Version 2")
    expect(card.locator("#compare-title")).to_have_text("Version 1 → version 2")
    expect_role_change(card, OLD_ROLE, NEW_ROLE)

    # activating shows what goes live before anything happens
    page.get_by_role("button", name="Activate version 2").click()
    dialog = page.get_by_role("dialog", name="Activate version 2?")
    live = dialog.get_by_role("region", name="What goes live")
    expect(live).to_contain_text(f"Version 2's note: {NOTE}")
    expect(live.get_by_text("Blueprint: 1 change")).to_be_visible()
    expect_role_change(live, OLD_ROLE, NEW_ROLE)
    expect(live.locator(".line.add")).to_have_text([NEW_LINE])
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    shoot(page, shots, "35-what-goes-live", full_page=False)
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}/prompt").json()["blueprint_id"] == v1
    dialog.get_by_role("button", name="Activate version 2").click()
    expect(messages(page)).to_contain_text("Version 2 is live.")
    with ui_server.api(owner) as http:
        served = http.get(f"/org-agents/{agent}/prompt").json()
    assert (served["blueprint_id"], served["version"]) == (v2, 2)
    assert f"Your role: {NEW_ROLE}." in served["compiled_system_prompt"]


def test_promoting_a_label_shows_what_goes_live_and_a_label_move_what_changes_for_it(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("diff-labels", "lars", "owner")
    agent, v1 = live_agent(ui_server, owner, "Label Diffs")
    v2 = restyled_version(ui_server, owner, agent, label="staging")
    sign_in(page, owner)
    page.get_by_role("link", name="Label Diffs").click()
    labels = page.get_by_role("table", name=re.compile("^Release labels of"))
    staging = labels.get_by_role("row").filter(has=page.get_by_role("rowheader").get_by_text("staging", exact=True))

    # moving staging back to version 1: what changes for staging, version 2 to version 1; cancelled, nothing moves
    staging.get_by_role("button", name="Move staging").click()
    page.get_by_label("To version").select_option(v1)
    page.get_by_role("button", name="Move label").click()
    dialog = page.get_by_role("dialog", name="Move staging to version 1?")
    moved_back = dialog.get_by_role("region", name="What changes for staging")
    expect_role_change(moved_back, NEW_ROLE, OLD_ROLE)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    # promoting staging: production's version 1 is replaced by version 2, and the dialog says what that changes
    staging.get_by_role("button", name="Promote staging to production").click()
    dialog = page.get_by_role("dialog", name="Promote staging to production?")
    live = dialog.get_by_role("region", name="What goes live")
    expect(live).to_contain_text(f"Version 2's note: {NOTE}")
    expect_role_change(live, OLD_ROLE, NEW_ROLE)
    expect(live.locator(".line.del")).to_have_text([OLD_LINE])
    expect(live.locator(".line.add")).to_have_text([NEW_LINE])
    shoot(page, shots, "36-promote-what-goes-live", full_page=False)
    dialog.get_by_role("button", name="Promote to production").click()
    expect(messages(page)).to_contain_text("Promoted: production is version 2, as staging is.")
    with ui_server.api(owner) as http:
        items = http.get(f"/org-agents/{agent}/labels").json()["items"]
    assert {label["name"]: label["blueprint_id"] for label in items} == {"production": v2, "latest": v2, "staging": v2}


def test_a_member_checks_a_draft_and_a_blueprint_of_the_wrong_shape_is_marked_as_a_save_would_refuse_it(
    page: Page, ui_server: UiServer
) -> None:
    owner = ui_server.token("diff-members", "olaf", "owner")
    agent, _ = live_agent(ui_server, owner, "Member Checks")
    member = ui_server.token("diff-members", "mia", "member")
    sign_in(page, member)
    page.get_by_role("link", name="Member Checks").click()
    page.get_by_role("button", name="New version", exact=True).click()
    tool = page.get_by_role("group", name="Tool 1")
    tool.get_by_label("Purpose").fill("")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-result")).to_contain_text("It does not compile yet: 1 problem")
    expect(tool.get_by_label("Purpose")).to_have_attribute("aria-invalid", "true")

    # in JSON, a section of the wrong type: the dry run is refused as a save would be, and says where
    page.get_by_role("radio", name="JSON").click()
    doc = pronouned()
    doc["tools"] = "inventory_lookup"
    page.get_by_label("Blueprint JSON").fill(json.dumps(doc))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#check-result")).to_contain_text("It cannot be saved as it is: 1 problem")
    expect(page.locator(".error-summary")).to_contain_text("Tools: Must be a list of objects")
    assert [v["version"] for v in versions_of(ui_server, owner, agent)] == [1]


def test_the_check_the_comparison_and_what_goes_live_fit_a_phone(phone: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("diff-phone", "pia", "owner")
    agent, _ = live_agent(ui_server, owner, "Phone Diffs")
    restyled_version(ui_server, owner, agent)
    sign_in(phone, owner)
    phone.get_by_role("link", name="Phone Diffs").click()

    versions_table(phone).get_by_role("button", name="What changed in version 2").click()
    card = phone.locator(".compare-card")
    expect_role_change(card, OLD_ROLE, NEW_ROLE)
    expect(card.locator("pre.prompt-diff .line.add")).to_have_text([NEW_LINE])
    assert fits_width(phone)
    card.scroll_into_view_if_needed()
    shoot(phone, shots, "37-phone-compare", full_page=False)

    phone.get_by_role("button", name="Activate version 2").click()
    dialog = phone.get_by_role("dialog", name="Activate version 2?")
    expect_role_change(dialog.get_by_role("region", name="What goes live"), OLD_ROLE, NEW_ROLE)
    expect(dialog.get_by_role("button", name="Activate version 2")).to_be_in_viewport()
    assert fits_width(phone)
    shoot(phone, shots, "38-phone-what-goes-live", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()

    phone.get_by_role("button", name="New version", exact=True).click()
    phone.get_by_role("group", name="Identity").get_by_label("Role").fill("")
    phone.get_by_role("button", name="Check").click()
    expect(phone.locator("#check-result")).to_contain_text("It does not compile yet")
    assert fits_width(phone)
    shoot(phone, shots, "39-phone-check", full_page=False)


def test_the_page_is_told_the_longest_change_note_the_domain_takes(ui_server: UiServer) -> None:
    with httpx.Client(base_url=ui_server.url, timeout=30) as http:
        module = http.get("/ui/domain.js")
    assert module.status_code == 200
    found = EMBEDDED.search(module.text)
    assert found, module.text
    assert json.loads(found.group(1))["change_note"] == {"max_chars": MAX_MESSAGE}
    assert re.search(r"^export const \{ change_note: CHANGE_NOTE \} = DOMAIN;$", module.text, re.MULTILINE)
