"""Auto-assignment as an agent sees it, in Chromium against the app under daphne: the
chat arrives in Mine with a toast, the transcript says who assigned it and why, and a
team's waiting chat stays out of the Waiting queue of an agent not in that team."""

import time

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from handoff.models import EscalationRule, HandoffSettings, Team, TopicRoute
from handoff.services.topics import SPECIFIC_TOPICS_TTL_SECONDS
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def test_a_chat_handoff_assigns_arrives_in_mine_with_a_toast_and_its_reason(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    row = HandoffSettings.load()
    row.auto_assign = True
    row.save()
    make_agent("aiko")
    # Record browser notifications instead of showing them, on a clock the test moves.
    tab.page.add_init_script(
        "window.__notes = [];"
        "window.Notification = class { constructor(title, options) {"
        " window.__notes.push(title + ' / ' + options.body); }"
        " static get permission() { return 'granted'; }"
        " static requestPermission() { return Promise.resolve('granted'); } };"
    )
    tab.page.clock.install()
    sign_in(tab, live.url, "aiko")
    live.post_webhook(webhook_body("u-auto", "agent please", name="Sato"))

    expect(tab.page.locator(".toast")).to_contain_text(
        "handoff assigned you a conversation with Sato.", timeout=10_000
    )
    # Assigned in the hand-over itself: the "is waiting" alert, which waits a moment
    # in case of exactly this, never sounds.
    tab.page.clock.run_for(5_000)
    assert tab.page.evaluate("() => window.__notes") == ["Assigned to you: Sato / keyword “agent”"]
    tab.page.locator('.queue[data-queue="mine"]').click()
    line = tab.page.locator("#conversation-list .row", has_text="Sato")
    expect(line).to_be_visible()
    line.click()
    expect(tab.page.locator("#thread")).to_contain_text("Assigned by handoff to aiko (1 of 5 open)")
    expect(tab.page.locator('.count[data-count="mine"]')).to_have_text("1")
    tab.screenshot("assigned-by-handoff")


def test_another_teams_waiting_chat_is_not_in_my_waiting_queue_but_my_teams_is(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    make_agent("aiko")
    billing = Team.objects.create(name="Billing")
    sales = Team.objects.create(name="Sales")
    billing.members.add(get_user_model().objects.get(username="aiko"))
    TopicRoute.objects.create(
        topic="billing", destination=TopicRoute.Destination.AGENTS, team=billing
    )
    TopicRoute.objects.create(topic="sales", destination=TopicRoute.Destination.AGENTS, team=sales)
    sign_in(tab, live.url, "aiko")
    time.sleep(SPECIFIC_TOPICS_TTL_SECONDS + 0.3)  # the server re-reads its routes
    live.post_webhook(webhook_body("u-sales", "a quote please", name="Tanaka", topic="sales"))
    live.post_webhook(webhook_body("u-bill", "my invoice", name="Sato", topic="billing"))

    mine = tab.page.locator("#conversation-list .row", has_text="Sato")
    expect(mine).to_be_visible(timeout=10_000)
    expect(mine.locator(".team-chip")).to_have_text("Billing")
    expect(tab.page.locator("#conversation-list .row", has_text="Tanaka")).to_have_count(0)
    expect(tab.page.locator('.count[data-count="waiting"]')).to_have_text("1")
    # Everything is still in All.
    tab.page.locator('.queue[data-queue="all"]').click()
    expect(tab.page.locator("#conversation-list .row", has_text="Tanaka")).to_be_visible()
