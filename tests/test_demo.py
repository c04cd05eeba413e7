"""`make run`'s demo: `seed_demo` leaves a conversation in every state, made by the
same services as real ones, and none of their replies is ever sent to Braze."""

import importlib

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from handoff.management.commands import seed_demo
from handoff.models import (
    Contact,
    Conversation,
    ConversationEvent,
    EscalationRule,
    Message,
    ProfileUpdate,
)
from tests.test_browser import Tab, chromium, sign_in, tab  # noqa: F401 - fixtures

DEMO_IDS = [external_id for external_id, _name, _texts in seed_demo.DEMO_CUSTOMERS]


def demo_conversations() -> dict[str, Conversation]:
    return {
        c.contact.external_id: c
        for c in Conversation.objects.filter(contact__external_id__in=DEMO_IDS).select_related(
            "contact", "assignee"
        )
    }


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Contact, Conversation, Message, ConversationEvent, ProfileUpdate)
    )


@pytest.fixture
def default_rules():
    """The escalation rules `migrate` installs; a transactional test that ran earlier
    in the session emptied the table, and the demo's keyword chat depends on them."""
    defaults = importlib.import_module("handoff.migrations.0002_defaults")
    for phrase, match, priority in defaults.DEFAULT_RULES:
        EscalationRule.objects.get_or_create(
            phrase=phrase, match=match, defaults={"priority": priority}
        )


@pytest.mark.django_db(transaction=True)
def test_seed_demo_leaves_a_conversation_in_every_state_once(settings, agents_group, default_rules):
    settings.DEBUG = True
    call_command("seed_demo")
    seeded = counts()

    call_command("seed_demo")  # `make run` seeds on every start

    assert counts() == seeded
    chats = demo_conversations()
    bot = chats[seed_demo.DEMO_BOT_CHAT[0]]
    keyword = chats[seed_demo.DEMO_KEYWORD[0]]
    fallback = chats[seed_demo.DEMO_FALLBACK[0]]
    assigned = chats[seed_demo.DEMO_ASSIGNED[0]]
    resolved = chats[seed_demo.DEMO_RESOLVED[0]]
    assert bot.state == "bot"
    assert [m.author_kind for m in bot.messages.order_by("pk")] == ["customer", "bot"] * 2
    assert (keyword.state, keyword.escalation_kind, keyword.escalation_detail) == (
        "waiting",
        "keyword",
        "human",
    )
    assert (fallback.state, fallback.escalation_kind) == ("waiting", "bot_fallback")
    assert (assigned.state, assigned.assignee.username) == ("assigned", "aiko")
    assert (
        list(
            assigned.messages.filter(author_kind="agent")
            .order_by("pk")
            .values_list("text", flat=True)
        )
        == seed_demo.DEMO_ASSIGNED_REPLIES
    )
    assert assigned.messages.order_by("pk").last().text == seed_demo.DEMO_ASSIGNED_ANSWER
    assert (resolved.state, resolved.satisfaction_score) == ("resolved", 5)
    assert set(resolved.events.values_list("kind", flat=True)) >= {
        "opened",
        "escalated",
        "claimed",
        "resolved",
        "satisfaction",
    }
    # History, not work: nothing is left for a worker to send to Braze.
    outbound = Message.objects.filter(direction="out")
    assert set(outbound.values_list("delivery_state", "dispatch_id")) == {("sent", "")}
    assert set(ProfileUpdate.objects.values_list("state", flat=True)) == {"sent"}
    assert not Message.objects.filter(direction="in", routing_state="pending").exists()


@pytest.mark.server
def test_the_demo_inbox_shows_every_state_at_first_sight_and_braze_gets_nothing(
    live,
    agents_group,
    default_rules,
    session_braze,
    settings,
    tab,  # noqa: F811 - the fixture imported above
):
    settings.DEBUG = True
    call_command("seed_demo")
    sign_in(tab, live.url, "aiko", password="handoff-agent")
    page = tab.page

    expect(page.locator('[data-count="waiting"]')).to_have_text("2")
    expect(page.locator('[data-count="mine"]')).to_have_text("1")
    expect(page.locator('[data-count="bot"]')).to_have_text("1")
    expect(page.locator('[data-count="resolved"]')).to_have_text("1")
    rows = page.locator("#conversation-list .row")
    expect(rows.filter(has_text="Kenji Tanaka")).to_be_visible()
    expect(rows.filter(has_text="Maria Lopez")).to_be_visible()
    page.locator('[data-queue="all"]').click()
    expect(rows).to_have_count(5)
    rows.filter(has_text="Yuki Sato").click()
    expect(page.locator("#thread-state")).to_have_text("Assigned to aiko")
    expect(page.locator("#transcript")).to_contain_text(seed_demo.DEMO_ASSIGNED_ANSWER)
    expect(page.locator("#reply")).to_be_enabled()
    tab.screenshot("demo-inbox")
    rows.filter(has_text="Tom Becker").click()
    expect(page.locator("#transcript")).to_contain_text(seed_demo.DEMO_RESOLVED_REPLY)
    expect(page.locator("#transcript")).to_contain_text("The customer rated this conversation 5/5")
    tab.screenshot("demo-inbox-resolved")

    # Several poll intervals of the server's workers: the seeded history stays history.
    page.wait_for_timeout(1500)
    assert session_braze.sent_messages() == []
    assert session_braze.requests("/users/track") == []
    tab.assert_clean()
