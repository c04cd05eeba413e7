"""Sending a Braze campaign from the inbox in a real browser (Debian's Chromium through
Playwright) against the app under daphne and the stand-in Braze."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import BrazeCampaign, CannedReply, Contact, Conversation, Message
from tests import test_browser
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.test_browser import sign_in

pytestmark = pytest.mark.server

# The browser fixtures of the inbox's own browser tests: one Chromium set-up.
chromium = test_browser.chromium
tab = test_browser.tab


def quiet_customer(agent_name: str, external_id: str, hours: int = 30) -> Conversation:
    """An assigned conversation whose customer last wrote `hours` ago."""
    agent = get_user_model().objects.get(username=agent_name)
    conversation = make_conversation(
        external_id=external_id, state=Conversation.State.ASSIGNED, assignee=agent
    )
    wrote = timezone.now() - timedelta(hours=hours)
    Contact.objects.filter(pk=conversation.contact_id).update(name="Sato", last_inbound_at=wrote)
    Message.objects.create(
        conversation=conversation,
        contact_id=conversation.contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text="Where is my order?",
        routing_state=Message.Routing.DONE,
        created_at=wrote,
    )
    return conversation


def test_with_the_window_closed_an_agent_sends_a_template_and_sees_it_delivered(
    live, agents_group, session_braze, tab
):
    BrazeCampaign.objects.create(
        name="Order update",
        key="order-update",
        campaign_id="tmpl-order-update",
        kind="template",
        property_names="customer_name\norder_number",
        description="Hi {{customer_name}}, there is news about order {{order_number}}.",
    )
    BrazeCampaign.objects.create(
        name="Size menu", key="size-menu", campaign_id="resp-size", kind="response"
    )
    make_agent("aiko")
    conversation = quiet_customer("aiko", "quiet-browser")
    sign_in(tab, live.url, "aiko")
    page = tab.page

    page.goto(f"{live.url}/#c{conversation.pk}")
    expect(page.locator("#thread-name")).to_have_text("Sato")
    expect(page.locator("#reply")).to_be_disabled()
    expect(page.locator("#composer-reason")).to_contain_text("24-hour window has closed")

    page.keyboard.press("t")
    dialog = page.locator("#campaign-dialog")
    expect(dialog).to_be_visible()
    # Outside the window the template is offered first, with what it says.
    expect(page.locator("#campaign-select")).to_have_value("order-update")
    expect(page.locator("#campaign-description")).to_contain_text("news about order")
    page.locator("#campaign-select").select_option("size-menu")
    expect(page.locator("#campaign-kind")).to_contain_text("Choose a template")
    expect(page.locator("#campaign-send")).to_be_disabled()
    page.locator("#campaign-select").select_option("order-update")

    hostile = '<img src=x onerror="window.__pwned=1">'
    page.get_by_label("customer_name").fill(hostile)
    # The refusal below is the API's 400, which Chromium logs; nothing else may be.
    tab.allow_console_errors(r"status of 400 .*/send-campaign/\]$")
    page.locator("#campaign-send").click()
    # The empty property is named inline, next to its input; nothing was sent.
    expect(page.locator("#campaign-error")).to_contain_text("empty order_number")
    expect(dialog.locator(".field-error")).to_contain_text(["order_number"])
    assert session_braze.sent_messages() == []

    page.get_by_label("order_number").fill("A-1001")
    page.get_by_label("order_number").press("Enter")
    expect(dialog).to_be_hidden()

    sent = page.locator(".msg-agent", has=page.locator(".campaign-badge"))
    expect(sent.locator(".campaign-badge")).to_have_text("Order update")
    expect(sent.locator(".msg-text")).to_contain_text("order_number: A-1001")
    expect(sent.locator(".delivery-state")).to_have_attribute("data-state", "sent", timeout=15_000)
    [delivered] = session_braze.sent_messages()
    assert delivered["campaign_id"] == "tmpl-order-update"
    assert delivered["trigger_properties"] == {"customer_name": hostile, "order_number": "A-1001"}
    assert page.evaluate("() => window.__pwned") is None
    tab.screenshot("inbox-template-sent")
    tab.assert_clean()


def test_a_canned_reply_with_a_campaign_opens_the_form_filled_in(
    live, agents_group, session_braze, tab
):
    survey = BrazeCampaign.objects.create(
        name="Satisfaction",
        key="survey",
        campaign_id="tmpl-survey",
        kind="template",
        property_names="agent_name",
        is_survey=True,
    )
    CannedReply.objects.create(
        shortcut="survey",
        title="Ask for a rating",
        text="How did we do?",
        campaign=survey,
        campaign_properties={"agent_name": "Aiko"},
    )
    make_agent("aiko")
    conversation = quiet_customer("aiko", "canned-browser", hours=2)
    sign_in(tab, live.url, "aiko")
    page = tab.page
    page.goto(f"{live.url}/#c{conversation.pk}")
    expect(page.locator("#thread-name")).to_have_text("Sato")

    reply = page.locator("#reply")
    reply.click()
    reply.type("/surv")
    expect(page.locator("#canned")).to_contain_text("Ask for a rating")
    reply.press("Enter")

    expect(page.locator("#campaign-dialog")).to_be_visible()
    expect(page.locator("#campaign-select")).to_have_value("survey")
    expect(page.get_by_label("agent_name")).to_have_value("Aiko")
    expect(reply).to_have_value("")  # not inserted as text
    page.locator("#campaign-send").click()

    badge = page.locator(".campaign-badge", has_text="Satisfaction")
    expect(badge).to_be_visible()
    session_braze.wait_for(lambda messages: len(messages) == 1, timeout=10)
    [delivered] = session_braze.sent_messages()
    assert (delivered["campaign_id"], delivered["trigger_properties"]) == (
        "tmpl-survey",
        {"agent_name": "Aiko"},
    )
    assert re.search(r"\[Satisfaction\]", Message.objects.get(campaign=survey).text)
    tab.assert_clean()
