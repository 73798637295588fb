"""Activity on the web page: the organization's view shows older events on request and filters by action, person and
time, the address keeping the filters (back goes to the previous ones); an action the page has no words for still
reads, and names from the API stay text; an agent's page shows its own activity, to a member too, and what the page
itself changes shows there at once; the view fits a phone."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from entrypoints.http.examples import shop_buddy
from tests.browser.conftest import UiServer
from tests.browser.pages import events, fits_width, main_nav, messages, shoot, sign_in, versions_table

pytestmark = pytest.mark.browser

AT = r" · \d{1,2}:\d{2}\s[AP]M$"  # after each sentence: the time, in the viewer's zone (the tests' is UTC, en-US)
MARKUP = '<img src="x" alt="injected">Evil'
ORG_EVENTS = "**/org-agents/audit-events*"


def sentence(text: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(text) + AT)


def busy_agent(server: UiServer, token: str, name: str, versions: int) -> tuple[str, list[str]]:
    """An agent made through the API with `versions` drafts; version 1 compiled and live."""
    with server.api(token) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": name, "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        agent, ids = made.json()["agent"]["id"], [made.json()["blueprint"]["id"]]
        assert http.post(f"/org-agents/{agent}/blueprints/{ids[0]}/compile", params={"activate": "true"}).is_success
        for n in range(2, versions + 1):
            saved = http.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy(),
                                                                        "message": f"Try {n}"})  # fmt: skip
            assert saved.status_code == 201, saved.text
            ids.append(saved.json()["id"])
    return str(agent), ids


def test_the_organization_s_activity_shows_older_events_on_request_and_filters_by_action_person_and_time(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("activity", "ana", "owner")
    admin = ui_server.token("activity", "bo", "admin")
    agent, ids = busy_agent(ui_server, owner, "Busy Agent", versions=18)  # 2 keys, then 2 + 2 + 17 events: 23
    with ui_server.api(admin) as http:
        assert http.post(f"/org-agents/{agent}/blueprints/{ids[1]}/compile", params={"label": "staging"}).is_success
        assert http.put(f"/org-agents/{agent}/labels/production", json={"blueprint_id": ids[1]}).is_success
        assert http.patch(f"/org-agents/{agent}/labels/staging", json={"protected": True}).is_success

    sign_in(page, owner)
    main_nav(page).get_by_role("link", name="Activity").click()
    expect(events(page)).to_have_count(20)
    expect(events(page).first).to_have_text(sentence("bo protected staging of Busy Agent"))
    expect(events(page).nth(1)).to_have_text(sentence("bo moved production of Busy Agent from version 1 to version 2"))
    expect(events(page).nth(2)).to_have_text(sentence("bo created the label staging of Busy Agent at version 2"))
    expect(events(page).nth(3)).to_have_text(sentence("bo compiled version 2 of Busy Agent"))
    expect(events(page).nth(4)).to_have_text(sentence("ana created version 18 of Busy Agent: Try 18"))
    page.get_by_role("button", name="Show older activity").click()
    expect(events(page)).to_have_count(27)
    expect(events(page).nth(20)).to_be_focused()
    expect(page.get_by_role("button", name="Show older activity")).to_be_hidden()
    expect(events(page).last).to_have_text(sentence("operator created an owner key for ana"))
    expect(events(page).nth(25)).to_have_text(sentence("operator created an admin key for bo"))

    # by action: the address keeps the filter
    page.get_by_label("What").select_option(label="Label moved, promoted or rolled back")
    page.get_by_role("button", name="Show activity").click()
    expect(page).to_have_url(re.compile(r"#/activity\?action=label\.move$"))
    expect(events(page)).to_have_text(
        [
            sentence("bo moved production of Busy Agent from version 1 to version 2"),
            sentence("bo created the label staging of Busy Agent at version 2"),
            sentence("ana set production of Busy Agent to version 1"),
        ]
    )
    expect(page.locator("#activity-filtered")).to_have_text("Showing: Label moved, promoted or rolled back")
    shoot(page, shots, "45-activity-filtered")

    # and by person: every filter given must hold
    page.get_by_label("Who").fill("bo")
    page.get_by_role("button", name="Show activity").click()
    expect(events(page)).to_have_count(2)
    expect(page.get_by_label("What")).to_have_value("label.move")
    page.go_back()
    expect(events(page)).to_have_count(3)
    expect(page.get_by_label("Who")).to_have_value("")

    # by time: the last 24 hours hold everything; days that ended yesterday hold nothing; a reversed range is refused
    page.get_by_role("link", name="Clear the filters").click()
    page.get_by_label("When").select_option(label="The last 24 hours")
    page.get_by_role("button", name="Show activity").click()
    expect(page.get_by_role("button", name="Show older activity")).to_be_visible()
    expect(events(page)).to_have_count(20)
    page.get_by_label("When").select_option(label="Between dates…")
    today = datetime.now(UTC).date()
    page.get_by_label("From").fill((today - timedelta(days=7)).isoformat())
    page.get_by_label("To").fill((today - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Show activity").click()
    expect(page.get_by_text("No activity matches these filters.")).to_be_visible()
    expect(events(page)).to_have_count(0)
    page.get_by_label("From").fill(today.isoformat())
    page.get_by_role("button", name="Show activity").click()
    expect(page.locator("#activity-dates-error")).to_have_text("“From” must not be after “To”.")
    expect(page.get_by_label("From")).to_be_focused()
    page.get_by_label("To").fill(today.isoformat())
    page.get_by_role("button", name="Show activity").click()
    expect(events(page)).to_have_count(20)
    expect(page).to_have_url(re.compile(rf"when=dates&from={today}&to={today}$"))


def test_an_action_the_page_does_not_know_still_reads_and_names_stay_text(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("activity-odd", "cy", "owner")
    with ui_server.api(owner) as http:
        made = http.post("/org-agents", json={"name": MARKUP})
        assert made.status_code == 201, made.text
        agent = made.json()["id"]

    def with_a_future_action(route: Route) -> None:
        served = route.fetch()
        page_of: dict[str, Any] = served.json()
        page_of["items"].insert(0, {
            "id": "00000000-0000-4000-8000-000000000001", "occurred_at": datetime.now(UTC).isoformat(),
            "actor": "cy", "action": "agent.teleport", "target_id": agent, "agent_id": agent,
            "details": {"to": "<b>Mars</b>"},
        })  # fmt: skip
        route.fulfill(response=served, body=json.dumps(page_of))

    page.route(ORG_EVENTS, with_a_future_action)
    sign_in(page, owner)
    main_nav(page).get_by_role("link", name="Activity").click()
    odd = events(page).first
    expect(odd.locator(".sentence")).to_have_text(f"cy did agent.teleport on {MARKUP}")
    odd.get_by_text("What was recorded").click()
    expect(odd.locator("pre")).to_have_text(json.dumps({"to": "<b>Mars</b>"}, indent=2))
    expect(events(page).nth(1)).to_have_text(sentence(f"cy created {MARKUP}"))
    expect(page.locator(".activity img, .activity b")).to_have_count(0)
    odd.get_by_role("link", name=MARKUP).click()
    expect(page.get_by_role("heading", name=MARKUP, level=1)).to_be_visible()


def test_an_agent_s_page_shows_its_own_activity_to_a_member_and_what_the_page_changes_at_once(
    page: Page, ui_server: UiServer, shots: Path
) -> None:
    owner = ui_server.token("activity-agent", "dana", "owner")
    member = ui_server.token("activity-agent", "mo", "member")
    agent, _ = busy_agent(ui_server, owner, "Member Reads", versions=12)
    busy_agent(ui_server, owner, "Someone Else", versions=2)
    with ui_server.api(owner) as http:
        renamed = http.patch(f"/org-agents/{agent}", json={"name": "Member Reads Activity", "description": "Reads"})
        assert renamed.status_code == 200, renamed.text

    sign_in(page, member)
    expect(main_nav(page).get_by_role("link", name="Activity")).to_have_count(0)
    page.get_by_role("link", name="Member Reads Activity").click()
    section = page.get_by_role("region", name="Activity", exact=True)
    expect(events(section)).to_have_count(10)
    expect(events(section).first).to_have_text(
        sentence("dana renamed the agent from “Member Reads” to “Member Reads Activity” and added its description")
    )
    expect(events(section).nth(1)).to_have_text(sentence("dana created version 12: Try 12"))
    section.get_by_role("button", name="Show older activity").click()
    expect(events(section)).to_have_count(16)
    expect(events(section).last).to_have_text(sentence("dana created the agent “Member Reads”"))
    expect(section).not_to_contain_text("Someone Else")
    expect(section).not_to_contain_text("key")

    # what the member does on the page is in its activity at once
    versions_table(page).get_by_role("link", name="Version 12").click()
    page.get_by_role("button", name="Edit as a new version").click()
    page.get_by_role("button", name="Save as a new version").click()
    expect(messages(page)).to_contain_text("Version 13 saved as a draft.")
    expect(events(section).first).to_have_text(sentence("mo created version 13"))
    events(section).nth(2).get_by_role("link", name="version 12").click()
    expect(page.get_by_role("heading", name="Version 12", level=2, exact=True)).to_be_visible()


def test_the_activity_fits_a_phone_screen(phone: Page, ui_server: UiServer, shots: Path) -> None:
    owner = ui_server.token("activity-phone", "pia", "owner")
    busy_agent(ui_server, owner, "A rather long agent name for a narrow screen", versions=3)
    sign_in(phone, owner)
    phone.goto("/#/activity")
    expect(events(phone)).to_have_count(7)
    assert fits_width(phone)
    shoot(phone, shots, "46-phone-activity")
