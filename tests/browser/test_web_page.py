"""The web page in a real browser: a person takes an agent from nothing to a live prompt and back to an older
version using only the page; a member sees the admin actions disabled; the form and JSON keep the same content;
the form has a field for every field of the domain and marks the required ones as the compiler does; the page fits
a phone; refusals and a lost connection get clear messages; the files are served by the API process."""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from domain.compiler import REQUIRED_FIELDS
from domain.document import SECTIONS, FieldType, SectionShape
from entrypoints.http.examples import shop_buddy
from entrypoints.http.schemas import MAX_BLUEPRINT_BYTES, MAX_SMALL_BODY_BYTES
from tests.browser.conftest import UiServer
from tests.browser.pages import agent_id_of, fits_width, messages, shoot, sign_in, versions_table

pytestmark = pytest.mark.browser

IN = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "  # between the parts of a field's name: Tool 1, Purpose
DOCS_SCREENSHOT = "agent-page.png"  # the README's picture: copy it from the screenshots directory to docs/
STATIC = Path(__file__).parents[2] / "entrypoints" / "http" / "ui" / "static"
TYPES = {".js": "text/javascript", ".css": "text/css"}
DOMAIN_MODULE = "**/ui/domain.js"  # made by the server from the domain's constants, not a file in STATIC
EMBEDDED = re.compile(r"^const DOMAIN = (\{$.*?^\});$", re.MULTILINE | re.DOTALL)  # the JSON it states


def live_agent(server: UiServer, token: str, name: str, versions: int = 1) -> str:
    """An agent made through the API: version 1 compiled and live, later versions drafts."""
    with server.api(token) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        compiled = http.post(f"/org-agents/{agent}/blueprints/{v1}/compile", params={"activate": "true"})
        assert compiled.status_code == 200, compiled.text
        for _ in range(versions - 1):
            assert http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}).is_success
    return str(agent)


def test_a_person_takes_an_agent_from_nothing_to_a_live_prompt_and_rolls_back(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("journey", "ana", "owner")
    page.goto("/")
    shoot(page, shots, "01-sign-in")
    sign_in(page, owner)
    expect(page.locator("#who")).to_contain_text("Signed in as ana")
    expect(page.locator("#who")).to_contain_text("owner")
    expect(page.get_by_text("No agents yet")).to_be_visible()

    # a new agent, its first blueprint written in the form, incomplete on purpose
    page.get_by_role("main").get_by_role("link", name="New agent").click()
    expect(page.get_by_role("heading", name="New agent", level=1)).to_be_focused()
    page.get_by_label("Agent name").fill("Shop Buddy")
    page.get_by_label("Description").fill("Answers shoppers' questions for the clothing store")
    identity = page.get_by_role("group", name="Identity")
    identity.get_by_label("Name").fill("Shop Buddy")
    identity.get_by_label("Role").fill("Customer service assistant for a clothing store")
    page.get_by_role("button", name="Add a capability").click()
    capability = page.get_by_role("group", name="Capability 1")
    expect(capability.get_by_label("Task")).to_be_focused()
    capability.get_by_label("Task").fill("Answer product questions")
    capability.get_by_label("Example requests").fill("Do you have the linen shirt in XL?\nHow much are the boots?")
    page.get_by_role("button", name="Add a tool").click()
    tool = page.get_by_role("group", name="Tool 1")
    tool.get_by_label("Name").fill("inventory_lookup")
    tool.get_by_label("Triggers").fill("stock\nsize")
    page.get_by_role("button", name="Add a test scenario").click()
    page.get_by_role("button", name="Remove test scenario 1").click()  # added by mistake
    expect(page.get_by_role("group", name="Test scenario 1")).to_have_count(0)
    shoot(page, shots, "02-new-agent-form")
    page.get_by_role("button", name="Create agent").click()

    expect(page.get_by_role("heading", name="Shop Buddy", level=1)).to_be_visible()
    expect(messages(page)).to_contain_text("created, with version 1 as a draft")
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()
    agent = agent_id_of(page)

    # compiling reports every violation next to its field
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 1 did not compile: 2 problems")
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text(f"Identity{IN}Primary purpose: Required, non-blank")
    expect(summary).to_contain_text(f"Tool 1{IN}Purpose: Required, non-blank")
    purpose = page.get_by_role("group", name="Identity").get_by_label("Primary purpose")
    expect(purpose).to_have_attribute("aria-invalid", "true")
    expect(purpose).to_have_accessible_description(re.compile("Required, non-blank"))
    tool_purpose = page.get_by_role("group", name="Tool 1").get_by_label("Purpose")
    expect(tool_purpose).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("group", name="Identity").get_by_label("Role")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.get_by_role("button", name="Activate version 1")).to_be_disabled()
    summary.get_by_role("link", name=re.compile(f"Tool 1{IN}Purpose")).click()
    expect(tool_purpose).to_be_focused()
    shoot(page, shots, "03-compile-failed")

    # fix it in a new version: the form starts from version 1, its problems still marked
    page.get_by_role("button", name="Edit as a new version").click()
    expect(page.get_by_role("heading", name="New version, based on version 1")).to_be_visible()
    purpose = page.get_by_role("group", name="Identity").get_by_label("Primary purpose")
    expect(purpose).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("group", name="Identity").get_by_label("Name")).to_have_value("Shop Buddy")
    purpose.fill("Answer shoppers' questions about products, sizes, stock and returns")
    page.get_by_role("group", name="Tool 1").get_by_label("Purpose").fill("Look up stock and sizes for a product")
    page.get_by_label("Conversation id").fill("conv-ui-1")
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 2 saved as a draft")
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    history = versions_table(page)
    expect(history.get_by_role("row")).to_have_count(3)
    expect(history.get_by_role("row", name=re.compile("Version 2"))).to_contain_text("conv-ui-1")
    expect(history.get_by_role("row", name=re.compile("Version 1"))).to_contain_text("Failed")

    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("Version 2 compiled")
    prompt = page.get_by_label("Compiled system prompt")
    expect(prompt).to_contain_text("You are Shop Buddy.")
    expect(prompt).to_contain_text("- inventory_lookup: Look up stock and sizes for a product")
    page.get_by_role("button", name="Copy prompt").click()
    expect(messages(page)).to_contain_text("copied")
    assert page.evaluate("navigator.clipboard.readText()").startswith("You are Shop Buddy.")

    # activate, with a confirmation
    page.get_by_role("button", name="Activate version 2").click()
    dialog = page.get_by_role("dialog", name="Activate version 2?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    shoot(page, shots, "04-activate-dialog", full_page=False)
    dialog.get_by_role("button", name="Activate version 2").click()
    expect(messages(page)).to_contain_text("Version 2 is live.")
    expect(page.locator("#live-version")).to_have_text("Version 2")

    # a second compiled version goes live
    page.get_by_role("button", name="Edit as a new version").click()
    page.get_by_role("group", name="Identity").get_by_label("Personality").fill("Cheerful and brief")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_role("heading", name="Version 3", level=2, exact=True)).to_be_visible()
    page.get_by_role("button", name="Compile").click()
    expect(page.get_by_label("Compiled system prompt")).to_contain_text("Your personality: Cheerful and brief")
    page.get_by_role("button", name="Activate version 3").click()
    page.get_by_role("dialog").get_by_role("button", name="Activate version 3").click()
    expect(page.locator("#live-version")).to_have_text("Version 3")

    # roll back to the first compiled version, after thinking twice
    versions_table(page).get_by_role("link", name="Version 2").click()
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    page.get_by_role("button", name="Roll back to version 2").click()
    dialog = page.get_by_role("dialog", name="Roll back to version 2?")
    expect(dialog).to_contain_text("Version 3 is live now")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Roll back to version 2")).to_be_focused()
    expect(page.locator("#live-version")).to_have_text("Version 3")
    page.keyboard.press("Enter")
    dialog.get_by_role("button", name="Roll back to version 2").click()
    expect(messages(page)).to_contain_text("Rolled back: version 2 is live again.")
    expect(page.locator("#live-version")).to_have_text("Version 2")
    expect(versions_table(page).get_by_role("row", name=re.compile("Version 2"))).to_contain_text("Live")

    with ui_server.api(owner) as http:
        live = http.get(f"/org-agents/{agent}/prompt")
        versions = http.get(f"/org-agents/{agent}/blueprints?include=document").json()["items"]
    assert live.status_code == 200, live.text
    assert live.json()["version"] == 2
    assert [(v["version"], v["compilation_status"]) for v in versions] == [
        (3, "compiled"), (2, "compiled"), (1, "failed"),
    ]  # fmt: skip
    assert live.json()["compiled_system_prompt"] == versions[1]["compiled_system_prompt"]
    assert versions[1]["conversation_id"] == "conv-ui-1"
    assert versions[1]["agent_blueprint"]["capabilities"] == [
        {
            "task": "Answer product questions",
            "examples": ["Do you have the linen shirt in XL?", "How much are the boots?"],
        }
    ]
    page.get_by_role("button", name="Dismiss message").click()
    expect(messages(page)).to_be_empty()
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, shots, DOCS_SCREENSHOT.removesuffix(".png"), full_page=False)
    shoot(page, shots, "05-agent-page-full")

    # the list shows it with its live version
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    row = page.get_by_role("row", name=re.compile("Shop Buddy"))
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Version 2")
    shoot(page, shots, "06-agents-list")


def test_a_member_sees_the_admin_actions_disabled_but_can_save_a_version(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("members", "olga", "owner")
    agent = live_agent(ui_server, owner, "Member Probe", versions=2)
    member = ui_server.token("members", "mia", "member")

    sign_in(page, member)
    expect(page.locator("#who")).to_contain_text("member")
    page.get_by_role("link", name="Member Probe").click()
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    for name in ["Compile", "Activate version 2", "Deactivate agent", "Delete agent"]:
        expect(page.get_by_role("button", name=name)).to_be_disabled()
    expect(page.locator("#role-note")).to_contain_text("need an owner or admin")
    expect(page.get_by_role("button", name="Deactivate agent")).to_have_accessible_description(
        re.compile("Your role \\(member\\)")
    )
    versions_table(page).get_by_role("link", name="Version 1").click()
    expect(page.get_by_label("Compiled system prompt")).to_contain_text("You are Shop Buddy.")
    expect(page.get_by_role("button", name="Copy prompt")).to_be_enabled()
    shoot(page, shots, "07-member-view")

    page.get_by_role("button", name="New version", exact=True).click()
    expect(page.get_by_role("heading", name="New version, based on version 2")).to_be_visible()
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 3 saved as a draft")
    expect(page.get_by_role("button", name="Compile")).to_be_disabled()
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}/blueprints").json()["items"][0]["created_by"] == "mia"


def test_an_owner_switches_an_agent_off_and_on_and_deletes_it_with_confirmations(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("switches", "sam", "owner")
    agent = live_agent(ui_server, owner, "Switch Probe")
    sign_in(page, owner)
    page.get_by_role("link", name="Switch Probe").click()

    page.get_by_role("button", name="Deactivate agent").click()
    page.get_by_role("dialog", name="Deactivate Switch Probe?").get_by_role("button", name="Deactivate").click()
    expect(messages(page)).to_contain_text("Switch Probe is deactivated.")
    expect(page.get_by_text("This agent is deactivated")).to_be_visible()
    expect(page.locator("h1 + .badge")).to_have_text("Deactivated")
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}/prompt").status_code == 404
    page.get_by_role("button", name="Reactivate agent").click()
    expect(messages(page)).to_contain_text("Switch Probe is active again.")
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}/prompt").json()["version"] == 1

    page.get_by_role("button", name="Delete agent").click()
    dialog = page.get_by_role("dialog", name="Delete Switch Probe?")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Delete agent").click()
    expect(messages(page)).to_contain_text("Switch Probe is deleted.")
    expect(page.get_by_text("This agent is deleted")).to_be_visible()
    for name in ["Reactivate agent", "Delete agent", "New version", "Edit as a new version"]:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    shoot(page, shots, "12-deleted-agent", full_page=False)
    with ui_server.api(owner) as http:
        assert http.get(f"/org-agents/{agent}").json()["agent"]["status"] == "delete"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    expect(page.get_by_text("No agents yet")).to_be_visible()
    page.get_by_label("Show").select_option(label="Deleted")
    expect(page.get_by_role("row", name=re.compile("Switch Probe"))).to_contain_text("Deleted")


def test_json_and_the_form_show_the_same_blueprint_and_keep_what_the_form_does_not_know(
    page: Page, ui_server: UiServer
) -> None:
    owner = ui_server.token("json", "jo", "owner")
    sign_in(page, owner)
    page.get_by_role("main").get_by_role("link", name="New agent").click()
    page.get_by_label("Agent name").fill("Json Probe")
    page.get_by_role("group", name="Identity").get_by_label("Name").fill("Json Probe")

    page.get_by_role("radio", name="JSON").click()
    source = page.get_by_label("Blueprint JSON")
    expect(source).to_have_value(re.compile('"name": "Json Probe"'))
    source.fill("{not json")
    page.get_by_role("radio", name="Form").click()
    expect(page.get_by_text("Fix the JSON first")).to_be_visible()
    expect(source).to_be_visible()
    expect(source).to_have_attribute("aria-invalid", "true")

    document = shop_buddy() | {"x_review": {"approved_by": "legal"}}
    document["tools"][0]["owner_team"] = "ops"
    source.fill(json.dumps(document))
    page.get_by_role("radio", name="Form").click()
    expect(page.get_by_role("group", name="Tool 1").get_by_label("Name")).to_have_value("inventory_lookup")
    expect(page.get_by_role("group", name="Capability 2").get_by_label("Task")).to_have_value(
        "Explain the return policy"
    )
    expect(page.get_by_text("kept as they are (see JSON): x_review")).to_be_visible()
    page.get_by_role("group", name="Monitoring").get_by_label("Reporting").fill("daily_summary")
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()

    with ui_server.api(owner) as http:
        listed = http.get(f"/org-agents/{agent_id_of(page)}/blueprints", params={"include": "document"}).json()
    saved = listed["items"][0]["agent_blueprint"]
    assert saved == document | {"monitoring": {"reporting": "daily_summary", "fallbacks": "escalate_to_human"}}

    page.get_by_role("button", name="Compile").click()
    expect(page.locator(".warnings")).to_contain_text("x_review: unknown section")
    expect(page.locator(".warnings")).to_contain_text("tools[0].owner_team: unknown field")


def form_fields(page: Page) -> list[tuple[str, bool]]:
    """Every field of the blueprint form, in order: its path, and whether its label marks it as required."""
    found: Any = page.locator(".bp-editor").evaluate(
        """editor => [...editor.querySelectorAll("[data-path]")].map((control) => [
          control.dataset.path,
          Boolean(editor.querySelector(`label[for="${control.id}"] .required`)),
        ])"""
    )
    return [(str(path), bool(required)) for path, required in found]


def test_the_form_has_a_field_for_every_field_of_the_domain_and_marks_exactly_the_required_ones(
    page: Page, ui_server: UiServer
) -> None:
    sign_in(page, ui_server.token("domain", "dora", "owner"))
    page.get_by_role("main").get_by_role("link", name="New agent").click()
    one_of_each: dict[str, list[dict[str, str]]] = {
        section.name: [{}] for section in SECTIONS if section.shape is SectionShape.LIST
    }
    page.get_by_role("radio", name="JSON").click()
    page.get_by_label("Blueprint JSON").fill(json.dumps(one_of_each))
    page.get_by_role("radio", name="Form").click()

    def path(section_name: str, shape: SectionShape, field: str) -> str:
        return f"{section_name}.{field}" if shape is SectionShape.OBJECT else f"{section_name}[0].{field}"

    expected = [
        (path(section.name, section.shape, name), name in REQUIRED_FIELDS.get(section.name, ()))
        for section in SECTIONS
        for name, _ in section.fields
    ]
    assert form_fields(page) == expected
    assert sum(required for _, required in expected) == sum(map(len, REQUIRED_FIELDS.values()))
    for section in SECTIONS:
        for name, kind in section.fields:
            control = page.locator(f'.bp-editor [data-path="{path(section.name, section.shape, name)}"]')
            expect(control).to_be_visible()
            expect(control).to_be_editable()
            expect(control).to_have_accessible_name(re.compile(r"\w"))
            if kind is FieldType.TEXT_LIST:
                expect(control).to_have_attribute("data-kind", "lines")


def test_a_section_or_field_the_page_has_no_words_for_shows_named_after_its_key_with_the_served_markers(
    page: Page, ui_server: UiServer
) -> None:
    """The server is the only source of structure: what it states is what the form shows, words or not."""

    def changed_domain(route: Route) -> None:
        served = route.fetch()
        found = EMBEDDED.search(served.text())
        assert found
        facts = json.loads(found.group(1))
        identity = next(section for section in facts["sections"] if section["key"] == "identity")
        for field in identity["fields"]:
            field["required"] = field["key"] != "name"  # name no longer required, personality now required
        identity["fields"].append({"key": "pronouns", "type": FieldType.TEXT.value, "required": True})
        facts["sections"].append(
            {
                "key": "guard_rails",
                "shape": SectionShape.LIST.value,
                "fields": [
                    {"key": "rule_text", "type": FieldType.TEXT.value, "required": True},
                    {"key": "examples", "type": FieldType.TEXT_LIST.value, "required": False},
                ],
            }
        )
        body = served.text()[: found.start(1)] + json.dumps(facts) + served.text()[found.end(1) :]
        route.fulfill(response=served, body=body)

    page.route(DOMAIN_MODULE, changed_domain)
    sign_in(page, ui_server.token("domain", "dario", "owner"))
    page.get_by_role("main").get_by_role("link", name="New agent").click()

    identity = page.get_by_role("group", name="Identity")
    expect(identity).to_have_accessible_description(
        re.compile("Role, personality, primary purpose and pronouns are needed to compile")
    )
    expect(identity.get_by_label("Pronouns")).to_be_visible()
    required = {path for path, marked in form_fields(page) if marked}
    assert required == {"identity.role", "identity.personality", "identity.primary_purpose", "identity.pronouns"}

    rails = page.get_by_role("group", name="Guard rails")
    expect(rails).to_have_accessible_description(re.compile("Each needs a rule text"))
    page.get_by_role("button", name="Add a guard rail").click()
    rail = page.get_by_role("group", name="Guard rail 1")
    expect(rail.get_by_label("Rule text")).to_be_focused()
    rail.get_by_label("Rule text").fill("Never discuss other customers")
    rail.get_by_label("Examples").fill("Who bought this?\nWhat did my neighbour order?")
    assert ("guard_rails[0].rule_text", True) in form_fields(page)
    page.get_by_role("radio", name="JSON").click()
    assert json.loads(page.get_by_label("Blueprint JSON").input_value())["guard_rails"] == [
        {"rule_text": "Never discuss other customers", "examples": ["Who bought this?", "What did my neighbour order?"]}
    ]


def test_a_blueprint_over_the_limit_is_refused_with_the_limits_the_server_applies(
    page: Page, ui_server: UiServer
) -> None:
    sign_in(page, ui_server.token("limits", "lia", "owner"))
    page.get_by_role("main").get_by_role("link", name="New agent").click()
    page.get_by_label("Agent name").fill("Too big")
    page.get_by_role("radio", name="JSON").click()
    oversized = {"identity": {"name": "Big"}, "x_padding": "x" * MAX_BLUEPRINT_BYTES}
    page.get_by_label("Blueprint JSON").fill(json.dumps(oversized))
    page.get_by_role("button", name="Create agent").click()
    expect(messages(page)).to_contain_text(
        f"a blueprint may be at most {MAX_BLUEPRINT_BYTES // 1024} KiB, "
        f"other requests {MAX_SMALL_BODY_BYTES // 1024} KiB"
    )


def test_the_page_fits_a_phone_screen(phone: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("phone", "pat", "owner")
    live_agent(ui_server, owner, "A rather long agent name for a narrow phone screen", versions=2)

    sign_in(phone, owner)
    expect(phone.get_by_role("link", name=re.compile("A rather long agent name"))).to_be_visible()
    assert fits_width(phone)
    shoot(phone, shots, "08-phone-agents")

    phone.get_by_role("link", name=re.compile("A rather long agent name")).click()
    versions_table(phone).get_by_role("link", name="Version 1").click()
    expect(phone.get_by_label("Compiled system prompt")).to_contain_text("You are Shop Buddy.")
    assert fits_width(phone)
    shoot(phone, shots, "09-phone-agent")

    phone.get_by_role("button", name="Deactivate agent").click()
    expect(phone.get_by_role("dialog", name=re.compile("Deactivate"))).to_be_visible()
    assert fits_width(phone)
    phone.get_by_role("dialog").get_by_role("button", name="Cancel").click()

    phone.goto("/#/new")
    phone.get_by_role("button", name="Add a tool").click()
    expect(phone.get_by_role("group", name="Tool 1")).to_be_visible()
    assert fits_width(phone)
    shoot(phone, shots, "10-phone-new-agent")


def test_long_lists_show_more_on_request_and_an_agent_can_start_without_a_blueprint(
    page: Page, ui_server: UiServer
) -> None:
    owner = ui_server.token("many", "max", "owner")
    with ui_server.api(owner) as http:
        for n in range(21):
            assert http.post("/org-agents", json={"name": f"Bulk {n:02}"}).status_code == 201
        agent = http.post("/org-agents", json={"name": "Many versions"}).json()["id"]
        for n in range(21):
            version = {"agent_blueprint": {"identity": {"name": f"Try {n + 1}"}}}
            assert http.post(f"/org-agents/{agent}/blueprints", json=version).status_code == 201

    sign_in(page, owner)
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="Show more agents").click()
    expect(rows).to_have_count(22)
    expect(page.get_by_role("button", name="Show more agents")).to_be_hidden()

    page.get_by_role("link", name="Many versions").click()
    expect(page.get_by_role("heading", name="Version 21", level=2, exact=True)).to_be_visible()
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="Show older versions").click()
    expect(rows).to_have_count(21)
    expect(page.get_by_role("link", name="Version 1", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Version 1", level=2, exact=True)).to_be_visible()
    expect(page.get_by_role("group", name="Identity").get_by_label("Name")).to_have_value("Try 1")

    page.goto("/#/new")
    page.get_by_label("Agent name").fill("Blank slate")
    page.get_by_role("button", name="Create agent").click()
    expect(messages(page)).to_contain_text("It has no blueprint yet")
    expect(page.get_by_role("heading", name="First version", level=2)).to_be_visible()
    page.get_by_role("group", name="Identity").get_by_label("Name").fill("Blank slate")
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 1 saved as a draft")


def problem(status: int, detail: str, code: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "title": "Refused", "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def test_refusals_and_a_lost_connection_get_clear_messages(page: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("errors", "eve", "owner")
    agent = live_agent(ui_server, owner, "Error Probe", versions=2)

    page.goto("/")
    page.get_by_label("API token").fill("oat_not-a-real-token")
    page.get_by_label("API token").press("Enter")  # the keyboard alone signs in
    expect(messages(page)).to_contain_text("That token was not accepted")
    sign_in(page, owner)

    search = page.get_by_label("Search by name")
    search.fill("probe")

    def answer(status: int, body: dict[str, Any]) -> None:
        page.route("**/org-agents/search", lambda route: route.fulfill(status=status, json=body))

    def cut(route: Route) -> None:
        route.abort("connectionrefused")

    for status, body, expected in [
        (403, problem(403, "role 'member' may not do this", "RoleTooLow"), "Your role does not allow this"),
        (
            422,
            problem(422, "invalid", "RequestInvalid", [{"field": "query", "message": "too long"}]),
            "query: too long",
        ),
        (503, problem(503, "database unavailable", "Unavailable"), "cannot reach its database"),
    ]:
        answer(status, body)
        page.get_by_role("button", name="Search").click()
        expect(messages(page)).to_contain_text(expected)
        page.unroute("**/org-agents/search")
    page.route("**/org-agents/search", cut)
    page.get_by_role("button", name="Search").click()
    expect(messages(page)).to_contain_text("No answer from the server")
    shoot(page, shots, "11-lost-connection", full_page=False)
    page.unroute("**/org-agents/search")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("row", name=re.compile("Error Probe"))).to_be_visible()

    # 404: an agent that is not there (or belongs to another organization)
    page.goto(f"/#/agents/{uuid.uuid4()}")
    expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
    expect(messages(page)).to_contain_text("Not found")

    # 409: the agent was deleted by someone else while the page was open
    page.goto(f"/#/agents/{agent}")
    expect(page.get_by_role("heading", name="Version 2", level=2, exact=True)).to_be_visible()
    with ui_server.api(owner) as http:
        assert http.delete(f"/org-agents/{agent}").status_code == 204
    page.get_by_role("button", name="Compile").click()
    expect(messages(page)).to_contain_text("This agent is deleted")

    # 401 in the middle of a session (a revoked token): the page asks for a token again
    page.evaluate("sessionStorage.setItem('org-agents.token', 'oat_revoked')")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(messages(page)).to_contain_text("Paste a token to sign in again")
    assert page.evaluate("sessionStorage.getItem('org-agents.token')") is None

    sign_in(page, owner)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_page_and_its_files_come_from_the_api_process_and_stay_out_of_the_api_document(ui_server: UiServer) -> None:
    files = sorted(path for path in STATIC.iterdir() if path.name != "index.html")
    with httpx.Client(base_url=ui_server.url, timeout=30) as http:
        index = http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert index.headers["x-content-type-options"] == "nosniff"
        assert index.content == (STATIC / "index.html").read_bytes()
        for path in files:
            served = http.get(f"/ui/{path.name}")
            assert served.status_code == 200, path.name
            assert served.headers["content-type"].startswith(TYPES[path.suffix]), path.name
            assert served.content == path.read_bytes()
        assert http.get("/ui/missing.js").status_code == 404
        documented = http.get("/schema/openapi.json").json()["paths"]
    assert not [path for path in documented if path == "/" or path.startswith("/ui")]
    # hand-written and self-contained: nothing fetched from elsewhere, nothing minified
    for path in [*files, STATIC / "index.html"]:
        text = path.read_text(encoding="utf-8")
        assert "://" not in text, path.name
        assert max(len(line) for line in text.splitlines()) <= 120, path.name
