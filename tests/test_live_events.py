"""Background workers reach agents' websockets in the one-process default."""

import pytest
from websockets.exceptions import InvalidStatus

from handoff.models import EscalationRule
from tests.support.agents import login, make_agent, open_inbox, receive_until
from tests.support.factories import webhook_body

pytestmark = pytest.mark.server


def test_agents_see_a_new_message_and_its_reply_turn_sent_without_reloading(live, agents_group):
    EscalationRule.objects.get_or_create(phrase="agent", match=EscalationRule.Match.WORD)
    make_agent("aiko")
    with open_inbox(live.url, login(live.url, "aiko")) as socket:
        live.post_webhook(webhook_body("u-live", "I want to talk to an agent"))

        created = receive_until(socket, lambda e: e["type"] == "message.created")
        assert created["message"]["text"] == "I want to talk to an agent"
        escalated = receive_until(
            socket,
            lambda e: e["type"] == "conversation.updated" and e["event"]["kind"] == "escalated",
        )
        assert escalated["conversation"]["escalation_reason"] == "keyword:agent"
        sent = receive_until(
            socket, lambda e: e["type"] == "message.delivery" and e["delivery"]["state"] == "sent"
        )
        assert sent["delivery"]["dispatch_id"]


def test_the_inbox_socket_refuses_anonymous_users(live):
    with pytest.raises(InvalidStatus):
        open_inbox(live.url, None).recv(timeout=2)


def test_the_inbox_socket_refuses_foreign_origins(live, agents_group):
    make_agent("ben")
    with pytest.raises(InvalidStatus):
        open_inbox(live.url, login(live.url, "ben"), origin="http://evil.example").recv(timeout=2)
