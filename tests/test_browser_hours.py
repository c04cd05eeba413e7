"""Opening hours in the inbox, in a real browser (Debian's Chromium through Playwright)
against the app under daphne: a customer handed over while closed waits with
"Outside opening hours · opens Thu 9:00", so the agent knows what the customer was told."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import HandoffSettings, OpeningInterval, Schedule
from tests import test_browser
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import sign_in

pytestmark = pytest.mark.server

chromium = test_browser.chromium
tab = test_browser.tab
escalate_on_agent = test_browser.escalate_on_agent


def closed_until_three_days_from_now() -> None:
    """The server's clock cannot be set: open only on the weekday three days ahead."""
    opening_day = (timezone.now() + timedelta(days=3)).date()
    schedule = Schedule.objects.create(name="Rarely open", time_zone="UTC")
    OpeningInterval.objects.create(
        schedule=schedule, weekday=opening_day.weekday(), opens=540, closes=1020
    )
    settings_row = HandoffSettings.load()
    settings_row.schedule = schedule
    settings_row.save()


def test_a_chat_handed_over_while_closed_shows_when_they_open_until_claimed(
    live, agents_group, escalate_on_agent, tab
):
    make_agent("aiko")
    closed_until_three_days_from_now()
    sign_in(tab, live.url, "aiko")
    page = tab.page

    live.post_webhook(webhook_body("u-night", "agent please", name="Night owl"))

    row = page.locator("#conversation-list .row", has_text="Night owl")
    expect(row).to_be_visible(timeout=15_000)
    row.click()
    chip = page.locator("#hours-chip")
    expect(chip).to_be_visible()
    expect(chip).to_have_text(re.compile(r"^Outside opening hours · opens \w{3},? 0?9:00$"))
    expect(page.locator(".event-escalated")).to_contain_text("Outside opening hours · opens")
    tab.screenshot("inbox-outside-opening-hours")

    # Claimed, it no longer waits: the chip goes; the transcript keeps the record.
    page.keyboard.press("c")
    expect(page.locator("#thread-state")).to_have_text("Assigned to aiko")
    expect(chip).to_be_hidden()
    expect(page.locator(".event-escalated")).to_contain_text("Outside opening hours")
