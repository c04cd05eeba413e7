"""The transfer dialog for a team's conversation, in Chromium against the app under
daphne: the team's members first, under the team's name, each agent with their teams,
then the other agents."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from handoff.models import Conversation, Team
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.test_browser import chromium, sign_in, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server


def test_a_team_conversation_offers_its_team_first_when_transferred(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    users = get_user_model().objects
    for name in ("aiko", "ben", "carl", "dana"):
        make_agent(name)
    billing, sales = Team.objects.create(name="Billing"), Team.objects.create(name="Sales")
    billing.members.add(users.get(username="aiko"), users.get(username="dana"))
    sales.members.add(users.get(username="dana"), users.get(username="ben"))
    chat = make_conversation(
        state=Conversation.State.ASSIGNED, assignee=users.get(username="aiko"), team=billing
    )
    chat.contact.name = "Sato"
    chat.contact.save()

    sign_in(tab, live.url, "aiko")
    page = tab.page
    page.locator('button.queue[data-queue="mine"]').click()
    page.locator("#conversation-list .row", has_text="Sato").click()
    expect(page.locator("#thread-name")).to_have_text("Sato")
    page.keyboard.press("m")

    team_group = page.locator('#transfer-to optgroup[label="Team Billing"] option')
    expect(team_group).to_have_text(["dana · offline · 0/5 · Billing, Sales"])
    others = page.locator('#transfer-to optgroup[label="Other agents"] option')
    expect(others).to_have_text(["ben · offline · 0/5 · Sales", "carl · offline · 0/5"])
    page.keyboard.press("Escape")
    tab.assert_clean()
