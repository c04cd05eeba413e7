"""Queue labels in the agents' inbox, in Chromium against the app under daphne."""

import time

import pytest
from playwright.sync_api import expect

from handoff.models import Conversation, TopicRoute
from handoff.services.topics import SPECIFIC_TOPICS_TTL_SECONDS
from tests.conftest import wait_until
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import Tab, chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", autouse=True)
def let_the_server_forget_these_routes():
    """Later test files must not meet this file's routes in the server's cache."""
    yield
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)


def test_labels_show_in_the_list_and_the_header_and_the_filter_narrows_the_list(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    TopicRoute.objects.create(topic="billing", destination="agents", queue_label="Billing")
    # Labels are admin-entered text: shown as text, never as markup.
    TopicRoute.objects.create(topic="sales", destination="agents", queue_label="<b>Sales</b>")
    make_agent("aiko")
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)  # the server's view of the routes
    live.post_webhook(webhook_body("u-b", "my invoice", name="Billing Customer", topic="billing"))
    live.post_webhook(webhook_body("u-s", "a quote", name="Sales Customer", topic="sales"))
    wait_until(lambda: Conversation.objects.filter(state="waiting").count() == 2)

    sign_in(tab, live.url, "aiko")
    page = tab.page
    rows = page.locator("#conversation-list .row")
    expect(rows).to_have_count(2, timeout=10_000)
    billing_row = rows.filter(has_text="Billing Customer")
    expect(billing_row.locator(".label-chip")).to_have_text("Billing")
    expect(rows.filter(has_text="Sales Customer").locator(".label-chip")).to_have_text(
        "<b>Sales</b>"
    )
    assert page.locator("#conversation-list b").count() == 0

    # The filter, by keyboard: "l" focuses it, the arrow keys choose.
    label_filter = page.locator("#label-filter")
    expect(label_filter).to_be_visible()
    page.locator("body").press("l")
    expect(label_filter).to_be_focused()
    expect(page.locator('[data-count="waiting"]')).to_have_text("2")
    label_filter.select_option("Billing")
    expect(rows).to_have_count(1)
    expect(page.locator('[data-count="waiting"]')).to_have_text("1")
    expect(rows.first).to_contain_text("Billing Customer")
    tab.screenshot("topics-label-filter")

    rows.first.click()
    expect(page.locator("#label-chip")).to_have_text("Billing")
    expect(page.locator("#reason-chip")).to_have_text("Handed over: topic “billing”")

    label_filter.select_option("")
    expect(rows).to_have_count(2)
    tab.assert_clean()
