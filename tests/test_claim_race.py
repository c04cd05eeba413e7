"""Two agents claiming the same conversation at the same moment, over real HTTP."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from handoff.models import Conversation, ConversationEvent
from tests.support.agents import login, make_agent
from tests.support.factories import make_conversation

pytestmark = pytest.mark.server

ROUNDS = 50


def claimer(base_url: str, username: str):
    """A logged-in agent's claim call, sending the CSRF token as the inbox page does."""
    session = login(base_url, username)
    headers = {"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base_url}/"}

    def claim(conversation_id: int, barrier: threading.Barrier):
        barrier.wait(timeout=10)
        response = session.post(
            f"{base_url}/api/conversations/{conversation_id}/claim/", headers=headers, timeout=10
        )
        return username, response.status_code, response.json()

    return claim


def test_of_two_agents_claiming_at_once_exactly_one_wins_and_the_other_is_told_who(
    live, agents_group
):
    make_agent("aiko")
    make_agent("ben")
    claims = [claimer(live.url, "aiko"), claimer(live.url, "ben")]
    conversations = [
        make_conversation(state=Conversation.State.WAITING, escalated_at=timezone.now())
        for _ in range(ROUNDS)
    ]
    winners = []

    with ThreadPoolExecutor(max_workers=2) as pool:
        for conversation in conversations:
            barrier = threading.Barrier(2)
            answers = [
                f.result() for f in [pool.submit(c, conversation.pk, barrier) for c in claims]
            ]

            by_status = {status: (who, body) for who, status, body in answers}
            assert sorted(status for _, status, _ in answers) == [200, 409], answers
            winner, won = by_status[200]
            _, lost = by_status[409]
            assert won["conversation"]["assignee"] == winner
            assert lost["assignee"] == winner
            assert lost["error"] == f"{winner} has already claimed this conversation."
            assert lost["conversation"]["assignee"] == winner
            winners.append(winner)

    assert ConversationEvent.objects.filter(kind="claimed").count() == ROUNDS
    assert Conversation.objects.filter(state="assigned").count() == ROUNDS
    print(f"\nwins over {ROUNDS} rounds: aiko {winners.count('aiko')}, ben {winners.count('ben')}")
