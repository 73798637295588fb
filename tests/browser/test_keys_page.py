"""Keys on the web page: an owner creates a prompt key for an LLM runtime, copies its secret (shown once), the runtime
reads the live prompt with it and nothing else, the owner revokes it after a confirmation naming it and the runtime is
refused; a leaked key is revoked by pasting it; the organization's activity tells all of it, and a rollback, as
sentences, while the agent's activity tells only its own. An admin is offered only the keys an admin may make, and a
refused key sends the page back to sign-in. A member sees neither Keys nor the organization's activity."""

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from domain.audit import Action
from domain.roles import Role, Scope
from domain.tokens import MAX_TOKEN_NAME, SECRET_BYTES, SECRET_PREFIX, checksum
from entrypoints.http.examples import shop_buddy
from tests.browser.conftest import UiServer
from tests.browser.pages import events, fits_width, main_nav, messages, shoot, sign_in

pytestmark = pytest.mark.browser

EMBEDDED = re.compile(r"^const DOMAIN = (\{$.*?^\});$", re.MULTILINE | re.DOTALL)  # the JSON /ui/domain.js states
AT = r" · \d{1,2}:\d{2}\s[AP]M$"  # after each sentence: the time, in the viewer's zone (the tests' is UTC, en-US)
NOTE = "Cheerful now"


def keys_table(page: Page) -> Locator:
    return page.get_by_role("table", name=re.compile("^Keys of"))


def key_row(page: Page, name: str) -> Locator:
    return keys_table(page).get_by_role("row").filter(has=page.get_by_role("rowheader").get_by_text(name))


def sentences(*texts: str) -> list[re.Pattern[str]]:
    return [re.compile("^" + re.escape(text) + AT) for text in texts]


def medium_date(moment: str) -> str:
    """A date as the page writes it in en-US: "Apr 8, 2026"."""
    when = datetime.fromisoformat(moment).astimezone(UTC)
    return f"{when:%b} {when.day}, {when.year}"


def rolled_back_agent(server: UiServer, token: str, name: str) -> str:
    """Version 1 live, then version 2 (noted), then production rolled back to version 1: all through the API."""
    cheerful = shop_buddy()
    cheerful["identity"]["personality"] = "Cheerful and brief"
    with server.api(token) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        assert http.post(f"/org-agents/{agent}/blueprints/{v1}/compile", params={"activate": "true"}).is_success
        v2 = http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": cheerful, "message": NOTE})
        assert v2.status_code == 201, v2.text
        compiled = http.post(f"/org-agents/{agent}/blueprints/{v2.json()['id']}/compile", params={"activate": "true"})
        assert compiled.is_success, compiled.text
        back = http.put(f"/org-agents/{agent}/labels/production", json={"blueprint_id": v1})
        assert back.status_code == 200, back.text
    return str(agent)


def test_an_owner_gives_a_runtime_a_prompt_key_revokes_it_and_reads_it_all_in_the_activity(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("keys-journey", "kira", "owner")
    with ui_server.api(owner) as http:
        assert http.post("/org-agents", json={"name": "Bystander"}).status_code == 201
        org_id = http.get("/whoami").json()["org_id"]
    agent = rolled_back_agent(ui_server, owner, "Key Journey")

    sign_in(page, owner)
    expect(page.locator("#who")).to_contain_text("keys-journey")  # the organization by name, its id only in a title
    expect(page.locator("#who")).not_to_contain_text(org_id[:8])
    main_nav(page).get_by_role("link", name="Keys").click()
    expect(page.get_by_role("heading", name="Keys", level=1)).to_be_focused()
    expect(main_nav(page).get_by_role("link", name="Keys")).to_have_attribute("aria-current", "page")
    expect(page.get_by_label("Role")).to_have_value("member")
    expect(page.get_by_label("Role").locator("option")).to_have_text(["Owner", "Admin", "Member"])

    # a prompt key for the runtime, expiring in 30 days; the form explains what prompt means
    page.get_by_label("User id").fill("shop-runtime")
    page.get_by_label("Name").fill("Shop runtime")
    expect(page.get_by_label("Prompt only")).to_have_accessible_description(re.compile("the key for an LLM runtime"))
    page.get_by_label("Prompt only").check()
    expect(page.get_by_label("Role")).to_have_accessible_description(re.compile("member is enough"))
    expect(page.locator("#key-expiry-when")).to_have_text("It works until it is revoked.")
    page.get_by_label("Expires").select_option(label="In 30 days")
    expect(page.locator("#key-expiry-when")).to_contain_text("It will stop working on")
    before = datetime.now(UTC)
    page.get_by_role("button", name="Create key").click()

    created = page.get_by_role("region", name="Key created: “Shop runtime” (shop-runtime)")
    expect(created).to_be_visible()
    expect(created).to_contain_text("Copy the secret now: you will not see it again.")
    expect(created).to_contain_text("prompt")
    expect(page.get_by_label("User id")).to_have_value("")  # the form is ready for another key
    shown = created.get_by_label("Secret").input_value()
    assert shown.startswith(SECRET_PREFIX), shown
    created.get_by_role("button", name="Copy secret").click()
    expect(messages(page)).to_contain_text("The secret is copied to the clipboard.")
    secret = page.evaluate("navigator.clipboard.readText()")
    assert secret == shown
    shoot(page, shots, "40-key-created")

    # the runtime reads the live prompt with it, and nothing else
    with httpx.Client(base_url=ui_server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as runtime:
        live = runtime.get(f"/org-agents/{agent}/prompt")
        assert live.status_code == 200, live.text
        assert live.json()["version"] == 1
        assert runtime.get(f"/org-agents/{agent}").status_code == 403
        assert runtime.get("/org-agents").status_code == 403
        me = runtime.get("/whoami").json()
    assert (me["user_id"], me["scope"], me["token_name"], me["org_name"]) == (
        "shop-runtime",
        Scope.PROMPT.value,
        "Shop runtime",
        "keys-journey",
    )

    # listed with what it is; its expiry is the server's, thirty days on
    with ui_server.api(owner) as http:
        listed = http.get("/tokens").json()["items"]
    runtime_key = next(token for token in listed if token["name"] == "Shop runtime")
    expires = datetime.fromisoformat(runtime_key["expires_at"])
    assert before + timedelta(days=30) <= expires <= datetime.now(UTC) + timedelta(days=30)
    row = key_row(page, "Shop runtime")
    for column, text in [("User", "shop-runtime"), ("Role", "member"), ("Scope", "prompt"), ("State", "Active")]:
        expect(row.locator(f'td[data-label="{column}"]')).to_have_text(text)
    expect(row.locator('td[data-label="Expires"] time')).to_have_attribute("datetime", runtime_key["expires_at"])
    mine = key_row(page, "Unnamed")  # the owner's own key, made by the CLI
    expect(mine).to_contain_text("You are signed in with this key")
    created.get_by_role("button", name="I have stored it: hide the secret").click()
    expect(page.get_by_label("Secret", exact=True)).to_have_count(0)

    # revoke it: the confirmation names the key; the runtime is refused from then on
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    dialog = page.get_by_role("dialog", name="Revoke the key “Shop runtime” (shop-runtime)?")
    expect(dialog).to_contain_text("A prompt key of shop-runtime, created")
    page.keyboard.press("Escape")
    expect(row.locator('td[data-label="State"]')).to_have_text("Active")
    row.get_by_role("button", name="Revoke “Shop runtime” (shop-runtime)").click()
    dialog.get_by_role("button", name="Revoke key").click()
    expect(messages(page)).to_contain_text("The key “Shop runtime” (shop-runtime) is revoked.")
    expect(row.locator('td[data-label="State"]')).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    with httpx.Client(base_url=ui_server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as runtime:
        assert runtime.get(f"/org-agents/{agent}/prompt").status_code == 401
    with ui_server.api(owner) as http:
        used = http.get(f"/tokens/{runtime_key['id']}").json()["last_used_at"]
    assert used is not None
    expect(row.locator('td[data-label="Last used"] time')).to_have_attribute("datetime", used)

    # a leaked key, pasted: a secret of no key and a text that is no key are told apart from a revocation
    with ui_server.api(owner) as http:
        leaked = http.post("/tokens", json={"user_id": "leaky-bot", "role": "member", "name": "Leaky"})
        assert leaked.status_code == 201, leaked.text
    body = secrets.token_urlsafe(SECRET_BYTES)
    leaked_field = page.get_by_label("Leaked secret")
    leaked_field.fill(SECRET_PREFIX + body + checksum(body))
    page.get_by_role("button", name="Revoke this secret").click()
    expect(leaked_field).to_have_accessible_description(re.compile("No key of this server has that secret"))
    leaked_field.fill("hunter2")
    page.get_by_role("button", name="Revoke this secret").click()
    expect(leaked_field).to_have_accessible_description(re.compile("That is not a key of org-agents"))
    leaked_field.fill(leaked.json()["secret"])
    page.get_by_role("button", name="Revoke this secret").click()
    expect(messages(page)).to_contain_text("Revoked: the key with that secret is refused from now on")
    expect(leaked_field).to_have_value("")
    expect(key_row(page, "Leaky").locator('td[data-label="State"]')).to_contain_text("Revoked")
    shoot(page, shots, "41-keys-list")

    # the organization's activity, as sentences, newest first
    expiring = medium_date(runtime_key["expires_at"])
    main_nav(page).get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Activity", level=1)).to_be_focused()
    expect(events(page)).to_have_text(
        sentences(
            "The key “Leaky” of leaky-bot was revoked by pasting its secret",
            "kira created a member key “Leaky” for leaky-bot",
            "kira revoked the key “Shop runtime” of shop-runtime",
            f"kira created a prompt key “Shop runtime” for shop-runtime, expiring {expiring}",
            "kira rolled back production of Key Journey from version 2 to version 1",
            "kira moved production of Key Journey from version 1 to version 2",
            "kira compiled version 2 of Key Journey",
            f"kira created version 2 of Key Journey: {NOTE}",
            "kira set production of Key Journey to version 1",
            "kira compiled version 1 of Key Journey",
            "kira created version 1 of Key Journey",
            "kira created Key Journey",
            "kira created Bystander",
            "operator created an owner key for kira",
        )
    )
    rollback = events(page).nth(4)
    expect(rollback.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T"))
    expect(rollback.get_by_role("link", name="version 1")).to_have_attribute("href", re.compile(f"#/agents/{agent}/"))
    shoot(page, shots, "42-org-activity")

    # the agent's own activity: nothing of the keys, nothing of the other agent
    rollback.get_by_role("link", name="Key Journey").click()
    expect(page.get_by_role("heading", name="Key Journey", level=1)).to_be_visible()
    section = page.get_by_role("region", name="Activity")
    expect(events(section)).to_have_text(
        sentences(
            "kira rolled back production from version 2 to version 1",
            "kira moved production from version 1 to version 2",
            "kira compiled version 2",
            f"kira created version 2: {NOTE}",
            "kira set production to version 1",
            "kira compiled version 1",
            "kira created version 1",
            "kira created the agent “Key Journey”",
        )
    )
    section.scroll_into_view_if_needed()
    section.screenshot(path=shots / "43-agent-activity.png")


def test_an_admin_is_offered_the_keys_an_admin_may_make_and_a_refused_key_signs_the_page_out(
    page: Page, ui_server: UiServer
) -> None:
    owner = ui_server.token("keys-admin", "olga", "owner")
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    with ui_server.api(owner) as http:
        made = http.post("/tokens", json={"user_id": "ada", "role": "admin", "expires_at": in_a_week})
        assert made.status_code == 201, made.text
        admin = made.json()["secret"]
        for n in range(20):
            assert http.post("/tokens", json={"user_id": f"bulk-{n:02}", "role": "member"}).status_code == 201
    sign_in(page, admin)
    expect(page.locator("#who")).to_contain_text(f"key expires {medium_date(in_a_week)}")
    main_nav(page).get_by_role("link", name="Keys").click()
    expect(keys_table(page).locator("tbody tr")).to_have_count(20)
    page.get_by_role("button", name="Show more keys").click()
    expect(keys_table(page).locator("tbody tr")).to_have_count(22)
    expect(keys_table(page).locator("tbody tr").nth(20).get_by_role("rowheader")).to_be_focused()
    expect(page.get_by_role("button", name="Show more keys")).to_have_count(0)
    expect(page.get_by_label("Role").locator("option")).to_have_text(["Admin", "Member"])
    expect(page.get_by_label("Role")).to_have_accessible_description(re.compile("only an owner creates an owner's key"))
    expect(page.get_by_label("Name")).to_have_attribute("maxlength", str(MAX_TOKEN_NAME))
    owners = key_row(page, "Unnamed").filter(has_text="olga")
    expect(owners.get_by_role("button", name=re.compile("^Revoke"))).to_be_disabled()
    expect(owners.get_by_role("button", name=re.compile("^Revoke"))).to_have_accessible_description(
        "Only an owner can revoke an owner's key."
    )

    # the page checks what it can before asking: a user id, a day from today on
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("User id")).to_be_focused()
    expect(page.get_by_label("User id")).to_have_accessible_description(re.compile("Say who the key is for"))
    page.get_by_label("User id").fill("deploy-bot")
    page.get_by_label("Expires").select_option(label="At the end of a day you choose…")
    page.get_by_label("Last day it works").fill("2020-01-01")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("Last day it works")).to_be_focused()
    expect(page.locator("#key-expiry-error")).to_have_text("Choose a day from today on.")
    page.get_by_label("Last day it works").fill((datetime.now(UTC) + timedelta(days=400)).date().isoformat())
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("region", name=re.compile("^Key created: deploy-bot's member key"))).to_be_visible()
    expect(key_row(page, "Unnamed").filter(has_text="deploy-bot")).to_have_count(1)

    # the admin's own key is revoked elsewhere: the next call is refused and the page asks for a key again
    with ui_server.api(owner) as http:
        mine = next(t for t in http.get("/tokens", params={"limit": 100}).json()["items"] if t["user_id"] == "ada")
        assert http.delete(f"/tokens/{mine['id']}").status_code == 204
    page.get_by_label("User id").fill("another-bot")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_label("API token")).to_be_visible()
    expect(messages(page)).to_contain_text("Your token was not accepted")
    with ui_server.api(owner) as http:
        assert "another-bot" not in [t["user_id"] for t in http.get("/tokens", params={"limit": 100}).json()["items"]]


def test_a_member_sees_no_keys_and_no_organization_activity_and_a_prompt_key_is_told_what_it_is(
    page: Page, ui_server: UiServer
) -> None:
    owner = ui_server.token("keys-member", "omar", "owner")
    member = ui_server.token("keys-member", "mina", "member")
    with ui_server.api(owner) as http:
        runtime = http.post("/tokens", json={"user_id": "bot", "role": "member", "scope": "prompt"}).json()["secret"]
    sign_in(page, member)
    expect(main_nav(page).get_by_role("link")).to_have_text(["Agents", "New agent"])
    page.goto("/#/keys")
    expect(page.get_by_role("main")).to_contain_text("Keys are managed by the owners and admins")
    expect(page.get_by_role("table")).to_have_count(0)
    page.goto("/#/activity")
    expect(page.get_by_role("main")).to_contain_text("The organization's activity is for owners and admins.")
    expect(events(page)).to_have_count(0)
    with ui_server.api(member) as http:
        assert http.get("/tokens").status_code == 403
        assert http.get("/org-agents/audit-events").status_code == 403

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API token").fill(runtime)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="This is a prompt key", level=1)).to_be_visible()
    expect(page.locator("#who")).to_contain_text("prompt key")
    expect(main_nav(page)).to_be_hidden()


def test_the_keys_fit_a_phone_screen(phone: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("keys-phone", "pia", "owner")
    with ui_server.api(owner) as http:
        made = http.post("/tokens", json={"user_id": "a-rather-long-runtime-name", "role": "member",
                                          "scope": "prompt", "name": "The runtime of the storefront"})  # fmt: skip
        assert made.status_code == 201, made.text
    sign_in(phone, owner)
    phone.goto("/#/keys")
    expect(key_row(phone, "The runtime of the storefront")).to_be_visible()
    assert fits_width(phone)
    shoot(phone, shots, "44-phone-keys")


def test_the_page_is_told_the_keys_and_actions_of_the_domain(ui_server: UiServer) -> None:
    with httpx.Client(base_url=ui_server.url, timeout=30) as http:
        module = http.get("/ui/domain.js")
    assert module.status_code == 200
    found = EMBEDDED.search(module.text)
    assert found, module.text
    facts: dict[str, Any] = json.loads(found.group(1))
    assert facts["tokens"] == {
        "roles": [role.value for role in Role],
        "scopes": [scope.value for scope in Scope],
        "user_chars": facts["limits"]["name_chars"],
        "name_chars": MAX_TOKEN_NAME,
    }
    assert facts["activity"] == {"actions": [action.value for action in Action]}
    for name in ("tokens: TOKENS", "activity: ACTIVITY"):
        assert re.search(rf"^export const \{{ {name} \}} = DOMAIN;$", module.text, re.MULTILINE)
