"""The stand-in Braze's page in Chromium, as a new user meets it after `make run`: they
write as a customer there, and the bot's answer comes back to the same page.

The page's script must run without a single error: a page whose script dies still
serves its HTML, and only a browser sees that nothing works.
"""

import pytest
from playwright.sync_api import expect

from handoff.models import EscalationRule, FaqEntry, Message
from tests.support.servers import CAMPAIGN_ID, WEBHOOK_SECRET
from tests.test_browser import Tab, chromium, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


@pytest.fixture
def customer_page(live, session_braze):
    """The session's stand-in, forwarding its simulator to the app under test."""
    session_braze.set_webhook(live.url + "/webhooks/braze/whatsapp/", WEBHOOK_SECRET)
    session_braze.reply_campaign_id = CAMPAIGN_ID
    yield session_braze.url + "/"
    session_braze.set_webhook(None)
    session_braze.reply_campaign_id = None


def write_as_customer(page, user_id: str, name: str, text: str) -> None:
    page.get_by_label("External user id").fill(user_id)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_a_customer_writes_on_the_standin_page_and_the_bots_answer_appears_there(
    live,
    customer_page,
    tab,  # noqa: F811 - the fixture imported above
):
    FaqEntry.objects.create(questions="What are your opening hours?", answer="9:00-18:00, Mon-Fri.")
    page = tab.page
    page.goto(customer_page)
    expect(page.locator("#behaviour")).to_have_text("ok")  # the script runs and polls
    expect(page.locator("#empty")).to_be_visible()

    write_as_customer(page, "u-page", "Page Customer", "What are your opening hours?")

    expect(page.locator("#result")).to_contain_text("Webhook answered 200")
    expect(page.get_by_label("Message")).to_have_value("")
    phone = page.locator(".phone", has=page.locator("h3", has_text="u-page"))
    expect(phone.locator(".bubble.customer")).to_contain_text("What are your opening hours?")
    # The reply campaign's sends are shown as plain chat text, not as a campaign.
    answer = phone.locator(".bubble.bot")
    expect(answer).to_contain_text("9:00-18:00, Mon-Fri.", timeout=15_000)
    expect(answer.locator(".tag")).to_have_count(0)
    expect(page.locator("#empty")).to_be_hidden()
    assert Message.objects.filter(direction="in", text="What are your opening hours?").count() == 1
    tab.screenshot("standin-customer-chat")
    tab.assert_clean()


def test_a_handover_written_through_the_page_shows_the_handover_text_on_the_phone(
    live,
    customer_page,
    tab,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.create(phrase="agent", match=EscalationRule.Match.WORD)
    page = tab.page
    page.goto(customer_page)

    write_as_customer(page, "u-page-2", "Page Two", "Can I talk to an agent?\nPlease.")

    phone = page.locator(".phone", has=page.locator("h3", has_text="u-page-2"))
    # The customer's line break is kept, as text.
    expect(phone.locator(".bubble.customer")).to_contain_text("Can I talk to an agent?\nPlease.")
    expect(phone.locator(".bubble.bot")).to_have_count(1, timeout=15_000)
    tab.assert_clean()
