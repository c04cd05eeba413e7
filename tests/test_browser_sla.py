"""SLA clocks as an agent sees them, in Chromium against the app under daphne: a
hand-over shows its first-response chip counting down on the row and in the pane; when
the target is missed the chip turns red "breached", the agent is told, and the
transcript shows the breach. Minutes passing are stood in for by moving the stored due
times into the past: no test waits for the wall clock."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import (
    Conversation,
    ConversationEvent,
    EscalationRule,
    HandoffSettings,
    SlaPolicy,
)
from tests.conftest import wait_until
from tests.support.agents import make_agent
from tests.support.factories import webhook_body
from tests.test_browser import chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def due_by_now(conversation_id: int, *, at_risk_only: bool = False) -> None:
    """Move the conversation's running clocks so that they are at risk (or due) now,
    as if the minutes had passed; the server's scanner does the rest."""
    row = Conversation.objects.get(pk=conversation_id)
    now = timezone.now()
    due = now + timedelta(minutes=5) if at_risk_only else now - timedelta(seconds=1)
    at_risk = now - timedelta(seconds=1)
    clocks = {
        kind: {**clock, "due_at": due.isoformat(), "at_risk_at": at_risk.isoformat()}
        for kind, clock in row.sla_clocks.items()
    }
    Conversation.objects.filter(pk=conversation_id).update(
        sla_clocks=clocks, sla_due_at=due, sla_check_at=at_risk
    )


def test_a_missed_first_response_shows_as_breached_and_as_a_breach_event(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    settings_row = HandoffSettings.load()
    settings_row.auto_assign = False
    settings_row.sla_policy = SlaPolicy.objects.create(name="Standard", first_response_minutes=30)
    settings_row.save()
    make_agent("aiko")
    sign_in(tab, live.url, "aiko")
    live.post_webhook(webhook_body("u-sla", "agent please", name="Sato"))

    row = tab.page.locator("#conversation-list .row", has_text="Sato")
    chip = row.locator(".sla-chip")
    expect(chip).to_have_class("chip small sla-chip sla-ok", timeout=10_000)
    expect(chip).to_contain_text("FRT")
    expect(chip).to_contain_text("min")  # a countdown within the hour
    row.click()
    header = tab.page.locator("#sla-chip")
    expect(header).to_be_visible()
    expect(header).to_contain_text("FRT")

    conversation_id = Conversation.objects.get(contact__external_id="u-sla").pk
    due_by_now(conversation_id, at_risk_only=True)
    expect(chip).to_have_class("chip small sla-chip sla-at_risk", timeout=10_000)
    expect(header).to_have_class("chip sla-chip sla-at_risk")

    due_by_now(conversation_id)
    expect(chip).to_have_class("chip small sla-chip sla-breached", timeout=10_000)
    expect(chip).to_have_text("FRT breached")
    expect(header).to_have_text("FRT breached")
    expect(tab.page.locator("#thread")).to_contain_text("SLA missed: first response (target 30 min")
    # Unassigned and of no team: every agent is told.
    expect(tab.page.locator(".toast")).to_contain_text(
        "SLA missed on Sato: first response (target 30 min).", timeout=10_000
    )
    tab.screenshot("sla-breached")

    event = wait_until(
        lambda: ConversationEvent.objects.filter(
            conversation_id=conversation_id, kind=ConversationEvent.Kind.SLA_BREACHED
        ).first()
    )
    assert event.data["kind"] == "first_response"
    assert event.data["minutes"] == 30
    assert event.data["assignee"] is None
    assert (
        ConversationEvent.objects.filter(
            conversation_id=conversation_id, kind=ConversationEvent.Kind.SLA_BREACHED
        ).count()
        == 1
    )
