"""The window-aware order as an agent sees it, in Chromium against the app under
daphne: a customer handed over after another, whose WhatsApp window closes in five
minutes (too soon even for the agent free now to answer in time at their place),
moves to the top of the Waiting list with a red "window 4 min" chip, and the
transcript says why. The customer's earlier last message is stood in for by moving it
in the database: no test waits for the wall clock."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import Contact, EscalationRule, HandoffSettings
from handoff.services import seats
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def test_a_customer_whose_window_closes_soon_moves_to_the_top_with_the_window_left(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    settings_row = HandoffSettings.load()
    settings_row.auto_assign = False
    settings_row.save()
    make_agent("aiko")
    seats.set_status(agent=get_user_model().objects.get(username="aiko"), status="available")
    sign_in(tab, live.url, "aiko")
    rows = tab.page.locator("#conversation-list .row")
    live.post_webhook(webhook_body("u-older", "agent please", name="Older"))
    expect(rows).to_have_count(1, timeout=10_000)  # handed over first
    live.post_webhook(webhook_body("u-closing", "agent please", name="Closing"))
    expect(rows).to_have_count(2, timeout=10_000)
    expect(rows.nth(0)).to_contain_text("Older")
    expect(rows.nth(1).locator(".window-chip")).to_have_count(0)  # a full day left

    Contact.objects.filter(external_id="u-closing").update(
        last_inbound_at=timezone.now() - timedelta(hours=23, minutes=55)
    )
    expect(rows.nth(0)).to_contain_text("Closing", timeout=10_000)
    chip = rows.nth(0).locator(".window-chip")
    expect(chip).to_have_class("chip small window-chip window-ahead")
    expect(chip).to_have_text("window 4 min")
    expect(rows.nth(1).locator(".window-chip")).to_have_count(0)
    rows.nth(0).click()
    thread = tab.page.locator("#thread")
    expect(thread).to_contain_text(
        "Moved ahead of older chats: the WhatsApp window closes in 4 min"
    )
    # What the hand-over promised: behind Older, and an agent free.
    expect(thread).to_contain_text("told: number 2 in the queue, under a minute")
