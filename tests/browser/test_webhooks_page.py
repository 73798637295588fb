"""Webhooks on the web page: an owner registers an endpoint pointing at a real receiver, copies its secret (shown
once), sends a test and reads its delivery in the log (the receiver's answer as text), retries a delivery the receiver
refused and one it never got while it was down, and every request verifies with the copied secret; an admin disables,
enables, rotates (the new secret shown once, both secrets signing meanwhile) and deletes after a confirmation naming
the endpoint, and the organization's activity tells it all as sentences. Text from people and receivers stays text."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from domain.webhooks import MAX_ATTEMPTS, SECRET_PREFIX, SUBSCRIBABLE, EventType
from tests.browser.conftest import UiServer
from tests.browser.pages import events, main_nav, messages, shoot, sign_in
from tests.receivers import receiver

pytestmark = pytest.mark.browser

AT = r" · \d{1,2}:\d{2}\s[AP]M$"  # after each sentence: the time, in the viewer's zone (the tests' is UTC, en-US)
MARKUP = "<img src=x onerror=\"document.title='pwned'\">Cache refresher"
ANSWER = "<b>busy</b><script>document.title='pwned'</script>"
OTHER = "https://hooks.example.com/<b>other</b>"
MOVED = "https://hooks.example.com/moved"


def endpoint_card(page: Page, url: str) -> Locator:
    return page.get_by_role("region", name=url, exact=True)


def cell(row: Locator, column: str) -> Locator:
    return row.locator(f'td[data-label="{column}"]')


def sentences(*texts: str) -> list[re.Pattern[str]]:
    return [re.compile("^" + re.escape(text) + AT) for text in texts]


def test_an_owner_creates_a_webhook_sends_a_test_and_retries_what_the_receiver_missed(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("hooks", "hana", "owner")
    with receiver() as hook:
        hook.status, hook.body = 503, ANSWER.encode()  # it refuses the first request, saying so in markup
        sign_in(page, owner)
        main_nav(page).get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_focused()
        expect(main_nav(page).get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
        expect(page.get_by_text("No webhooks yet.")).to_be_visible()
        choices = page.get_by_role("group", name="Events")
        expect(choices.locator("label")).to_have_text([kind.value for kind in SUBSCRIBABLE])

        # the page checks what it can before asking: an address, one event at least
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_label("URL")).to_be_focused()
        expect(page.get_by_label("URL")).to_have_accessible_description(re.compile("Give the address of the receiver"))
        page.get_by_label("URL").fill(hook.url)
        page.get_by_role("button", name="Create webhook").click()
        expect(page.locator("#webhook-events-error")).to_have_text("Choose at least one event.")
        page.get_by_label("URL").fill("ftp://files.example.com/hook")  # the server's rule, shown at the field
        choices.get_by_label("agent.created").check()
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_label("URL")).to_have_accessible_description(re.compile("must be https or http"))
        page.get_by_label("URL").fill(hook.url)
        choices.get_by_label("label.moved").check()
        page.get_by_label("Description").fill(MARKUP)
        page.get_by_role("button", name="Create webhook").click()

        created = page.get_by_role("region", name="Webhook created")
        expect(created).to_contain_text("Copy the secret now: you will not see it again.")
        expect(created).to_contain_text(hook.url)
        shown = created.get_by_label("Signing secret").input_value()
        assert shown.startswith(SECRET_PREFIX), shown
        created.get_by_role("button", name="Copy secret").click()
        expect(messages(page)).to_contain_text("The secret is copied to the clipboard.")
        secret = page.evaluate("navigator.clipboard.readText()")
        assert secret == shown
        expect(page.get_by_label("URL")).to_have_value("")  # the form is ready for another one
        card = endpoint_card(page, hook.url)
        expect(card.locator(".state")).to_have_text("Enabled")
        expect(card.locator(".event-types li")).to_have_text(["agent.created", "label.moved"])
        expect(card.locator(".description")).to_have_text(MARKUP)
        shoot(page, shots, "50-webhook-secret")
        created.get_by_role("button", name="I have stored it: hide the secret").click()
        expect(page.get_by_label("Signing secret")).to_have_count(0)

        # a test: refused (503), its answer shown as text; answered once the receiver is fine and it is retried
        card.get_by_role("button", name=re.compile("^Send test")).click()
        log = card.get_by_role("region", name="Delivery log")
        test = log.locator("tbody tr").first
        expect(cell(test, "Last answer")).to_contain_text("HTTP 503")
        expect(cell(test, "Status")).to_have_text("Pending")
        expect(test.get_by_role("rowheader")).to_contain_text(EventType.WEBHOOK_TEST.value)
        expect(cell(test, "Last attempt").locator("time")).to_have_count(1)
        expect(cell(test, "Next attempt")).to_contain_text(re.compile(r"in \d+ seconds?|Due now"))
        test.get_by_text("What it answered").click()
        expect(test.locator("pre")).to_have_text(ANSWER)
        hook.status, hook.body = 204, b""
        test.get_by_role("button", name=re.compile("^Retry")).click()
        expect(cell(test, "Status")).to_have_text("Delivered")
        expect(cell(test, "Last answer")).to_have_text(re.compile("^HTTP 204"))
        (delivered,) = hook.wait_for(1)
        tested = delivered.verified(secret)  # signed with the secret the page copied
        assert tested["type"] == EventType.WEBHOOK_TEST.value
        assert tested["data"]["actor"] == "hana"

        # a change while the receiver is down: pending, the error shown; retried once it is up: delivered
        hook.down()
        with ui_server.api(owner) as http:
            assert http.post("/org-agents", json={"name": "Hooked"}).status_code == 201
        log.get_by_role("button", name="Refresh").click()
        change = log.locator("tbody tr").first
        expect(change.get_by_role("rowheader")).to_contain_text(EventType.AGENT_CREATED.value)
        expect(cell(change, "Last answer")).to_contain_text("ConnectError")
        expect(cell(change, "Status")).to_have_text("Pending")
        expect(cell(change, "Attempts")).to_contain_text(f" of {MAX_ATTEMPTS}")
        expect(card.locator(".state")).to_contain_text("Failing")
        expect(page.locator("main img, main b, main script")).to_have_count(0)
        assert page.title() != "pwned"
        shoot(page, shots, "51-webhook-log")
        hook.up()
        change.get_by_role("button", name=re.compile("^Retry")).click()
        expect(cell(change, "Status")).to_have_text("Delivered")
        expect(cell(change, "Attempts")).to_have_text("1")
        expect(card.locator(".state")).to_have_text("Enabled")
        received = hook.wait_for(2)[-1].verified(secret)
        assert (received["type"], received["data"]["name"]) == (EventType.AGENT_CREATED.value, "Hooked")
        expect(log.locator("tbody tr")).to_have_count(2)


def test_an_admin_disables_rotates_and_deletes_webhooks_and_the_activity_tells_it(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("hooks-admin", "ines", "owner")
    admin = ui_server.token("hooks-admin", "abe", "admin")
    with receiver() as hook:
        with ui_server.api(owner) as http:
            made = http.post("/webhooks", json={"url": hook.url, "events": list(SUBSCRIBABLE)})
            assert made.status_code == 201, made.text
            first_secret = made.json()["secret"]
            other = http.post("/webhooks", json={"url": OTHER, "events": ["label.moved"], "description": MARKUP})
            assert other.status_code == 201, other.text
            other_id = other.json()["webhook"]["id"]
            for_later = {"url": MOVED, "events": ["label.moved", "label.deleted"]}
            assert http.patch(f"/webhooks/{other_id}", json=for_later).status_code == 200
        sign_in(page, admin)
        main_nav(page).get_by_role("link", name="Webhooks").click()
        card = endpoint_card(page, hook.url)
        expect(card.locator(".event-types li")).to_have_count(len(SUBSCRIBABLE))
        expect(endpoint_card(page, MOVED).locator(".description")).to_have_text(MARKUP)
        shoot(page, shots, "52-webhooks-list")

        # disabled, then enabled again
        card.get_by_role("button", name=re.compile("^Disable")).click()
        expect(card.locator(".state")).to_have_text("Disabled")
        expect(messages(page)).to_contain_text("is disabled: nothing is sent to it")
        expect(card.get_by_role("button", name=re.compile("^Enable"))).to_be_focused()
        card.get_by_role("button", name=re.compile("^Enable")).click()
        expect(card.locator(".state")).to_have_text("Enabled")

        # rotated: the new secret shown once; a test is signed by both for the grace period
        card.get_by_role("button", name=re.compile("^Rotate secret")).click()
        dialog = page.get_by_role("dialog", name="Rotate the signing secret?")
        expect(dialog).to_contain_text(hook.url)
        expect(dialog).to_contain_text("For 24 hours every request carries two signatures")
        dialog.get_by_role("button", name="Rotate secret").click()
        rotated = page.get_by_role("region", name="New signing secret")
        new_secret = rotated.get_by_label("Signing secret").input_value()
        assert new_secret.startswith(SECRET_PREFIX), new_secret
        assert new_secret != first_secret
        card.get_by_role("button", name=re.compile("^Send test")).click()
        (tested,) = hook.wait_for(1)
        assert tested.verified(new_secret) == tested.verified(first_secret)
        expect(cell(card.locator("tbody tr").first, "Status")).to_have_text("Delivered")

    # deleted after a confirmation that names it (its description as text); Escape keeps it
    moved = endpoint_card(page, MOVED)
    moved.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.get_by_role("dialog", name="Delete this webhook?")
    expect(dialog).to_contain_text(MOVED)
    expect(dialog.locator(".description")).to_have_text(MARKUP)
    expect(dialog.locator("img")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(moved).to_be_visible()
    moved.get_by_role("button", name=f"Delete {MOVED}").click()
    dialog.get_by_role("button", name="Delete webhook").click()
    expect(messages(page)).to_contain_text(f"The webhook to {MOVED} is deleted.")
    expect(moved).to_have_count(0)
    with ui_server.api(owner) as http:
        assert http.get(f"/webhooks/{other_id}").status_code == 404

    # the organization's activity, as sentences; the service's disabling of a failing endpoint too
    failing_since = datetime.now(UTC) - timedelta(days=5)

    def with_a_disabled_endpoint(route: Route) -> None:
        served = route.fetch()
        if "action=" in route.request.url:  # a filtered list: the event is not one of those asked for
            route.fulfill(response=served)
            return
        page_of: dict[str, Any] = served.json()
        page_of["items"].insert(0, {
            "id": "00000000-0000-4000-8000-000000000002", "occurred_at": datetime.now(UTC).isoformat(),
            "actor": "org-agents", "action": "webhook.disable", "target_id": other_id, "agent_id": None,
            "details": {"url": hook.url, "reason": "disabled by org-agents: every delivery failed for 5 days",
                        "failing_since": failing_since.isoformat()},
        })  # fmt: skip
        route.fulfill(response=served, body=json.dumps(page_of))

    page.route("**/org-agents/audit-events*", with_a_disabled_endpoint)
    main_nav(page).get_by_role("link", name="Activity").click()
    since = f"{failing_since:%b} {failing_since.day}, {failing_since.year}"
    expect(events(page)).to_have_text(
        sentences(
            f"org-agents disabled the webhook {hook.url}: every delivery had failed since {since}",
            f"abe deleted the webhook {MOVED}",
            f"abe rotated the signing secret of the webhook {hook.url}",
            f"abe enabled the webhook {hook.url}",
            f"abe disabled the webhook {hook.url}",
            f"ines changed the webhook {OTHER}: pointed it at {MOVED} and set its events to label.moved and "
            "label.deleted",
            f"ines created the webhook {OTHER} for label.moved",
            f"ines created the webhook {hook.url} for every event",
            "operator created an admin key for abe",
            "operator created an owner key for ines",
        )
    )
    expect(page.locator(".activity b, .activity img")).to_have_count(0)
    shoot(page, shots, "53-webhooks-activity")
    page.get_by_label("What").select_option(label="Webhook secret rotated")
    page.get_by_role("button", name="Show activity").click()
    expect(events(page)).to_have_text(sentences(f"abe rotated the signing secret of the webhook {hook.url}"))
