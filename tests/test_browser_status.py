"""An agent's status (available or away) and load in the inbox, in Chromium against the
app under daphne: the header's control and its key, kept across reloads, seen live by
the other agents, and shown in the transfer dialog."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from handoff.models import AgentSeat, EscalationRule
from handoff.services import seats
from tests.conftest import wait_until
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import Tab, chromium, sign_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def seat_status(username: str) -> str:
    return AgentSeat.objects.get(agent__username=username).status


def test_an_agent_goes_away_by_click_and_key_keeps_it_across_reloads_and_others_see_it_live(
    live,
    agents_group,
    chromium,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    make_agent("ben")
    aiko_user = get_user_model().objects.get(username="aiko")
    seats.set_capacity(agent_id=aiko_user.pk, capacity=4)
    aiko, ben = Tab(chromium), Tab(chromium)
    try:
        sign_in(aiko, live.url, "aiko")
        sign_in(ben, live.url, "ben")
        mine = aiko.page.locator("#my-status")
        aikos_line = ben.page.locator("#presence li", has_text="aiko")
        expect(mine).to_have_attribute("data-status", "available")
        expect(mine).to_contain_text("Available")
        expect(aikos_line).to_have_text("aiko · available · 0/4")

        # The control: away, seen by ben without a reload; kept by the server.
        mine.click()
        expect(mine).to_have_attribute("data-status", "away")
        expect(mine).to_contain_text("Away")
        expect(aikos_line).to_have_text("aiko · away · 0/4")
        expect(aikos_line).to_have_attribute("data-status", "away")
        wait_until(lambda: seat_status("aiko") == "away")
        aiko.screenshot("status-away")

        aiko.page.reload()
        expect(aiko.page.locator("#app")).to_have_attribute("data-connection", "online")
        expect(mine).to_have_attribute("data-status", "away")
        expect(mine).to_contain_text("Away")
        expect(aikos_line).to_have_text("aiko · away · 0/4")

        # The key: back to available, seen live, kept across a reload.
        aiko.page.keyboard.press("a")
        expect(mine).to_have_attribute("data-status", "available")
        expect(aikos_line).to_have_text("aiko · available · 0/4")
        aiko.page.reload()
        expect(aiko.page.locator("#app")).to_have_attribute("data-connection", "online")
        expect(mine).to_have_attribute("data-status", "available")
        assert seat_status("aiko") == "available"

        # The key is in the help.
        aiko.page.keyboard.press("?")
        expect(aiko.page.locator("#help-dialog")).to_contain_text(
            "Switch between available and away"
        )
        aiko.page.keyboard.press("Escape")

        # Her load moves live as she claims; the transfer dialog shows each agent's.
        live.post_webhook(webhook_body("u-status", "agent please", name="Sato"))
        row = aiko.page.locator("#conversation-list .row", has_text="Sato")
        expect(row).to_be_visible(timeout=10_000)
        row.click()
        expect(aiko.page.locator("#thread-name")).to_have_text("Sato")
        aiko.page.keyboard.press("c")
        expect(aikos_line).to_have_text("aiko · available · 1/4")
        expect(aiko.page.locator("#presence li", has_text="aiko")).to_have_text(
            "aiko · available · 1/4"
        )
        ben.page.keyboard.press("a")  # ben steps away before aiko hands it over
        expect(ben.page.locator("#my-status")).to_have_attribute("data-status", "away")
        expect(aiko.page.locator("#presence li", has_text="ben")).to_have_text("ben · away · 0/5")
        expect(aiko.page.locator("#reply")).to_be_focused()  # a claim opens the reply box
        aiko.page.keyboard.press("Escape")
        aiko.page.keyboard.press("m")
        expect(aiko.page.locator("#transfer-to option", has_text="ben")).to_have_text(
            "ben · away · 0/5"
        )
        aiko.screenshot("status-transfer-dialog")
        aiko.page.keyboard.press("Escape")

        aiko.assert_clean()
        ben.assert_clean()
    finally:
        aiko.context.close()
        ben.context.close()
