"""Asking the configured bot a question by hand, for the admin's "try the bot" page.

It goes through get_bot() exactly as routing does, so the admin sees what customers
would get, but it never stores, sends or changes anything: no message row, no
escalation, no delivery. A failure of any kind is reported, not raised, because the
page exists to show failures.
"""

import time
from dataclasses import dataclass
from functools import cached_property

from handoff.bots import BotAnswer, BotError, BotRequest, Turn, get_bot
from handoff.models import Conversation
from handoff.selectors.messages import newest_message_id
from handoff.selectors.transcripts import transcript_before

# Sent as message_id so that a bot service can tell a trial from a customer's message.
TRIAL_MESSAGE_ID = 0
TRIAL_CONTACT_ID = "handoff-admin-trial"


@dataclass(frozen=True)
class TrialRequest(BotRequest):
    """A request whose transcript is a real conversation's latest messages, if any."""

    transcript_conversation_id: int | None = None

    @cached_property
    def transcript(self) -> tuple[Turn, ...]:
        if self.transcript_conversation_id is None:
            return ()
        newest = newest_message_id(self.transcript_conversation_id)
        if newest is None:
            return ()
        rows = transcript_before(self.transcript_conversation_id, newest + 1)
        return tuple(Turn(role=role, text=text) for role, text in rows)


@dataclass(frozen=True)
class Trial:
    answer: BotAnswer | None
    error: str
    seconds: float
    bot: str
    transcript: tuple[Turn, ...]

    @property
    def milliseconds(self) -> float:
        return self.seconds * 1000


def try_bot(*, text: str, conversation: Conversation | None = None) -> Trial:
    """What the configured bot answers to `text`, with how long it took, or its error."""
    if conversation is not None:
        request = TrialRequest(
            conversation_id=conversation.pk,
            message_id=TRIAL_MESSAGE_ID,
            contact_external_id=conversation.contact.external_id,
            contact_name=conversation.contact.name,
            text=text,
            topic=conversation.topic,
            transcript_conversation_id=conversation.pk,
        )
    else:
        request = TrialRequest(
            conversation_id=0,
            message_id=TRIAL_MESSAGE_ID,
            contact_external_id=TRIAL_CONTACT_ID,
            contact_name="",
            text=text,
        )
    bot_name = "(not loaded)"
    started = time.perf_counter()
    try:
        bot = get_bot()
        bot_name = type(bot).__name__
        answer, error = bot.answer(request), ""
    except BotError as failure:
        answer, error = None, str(failure) or "bot error"
    except Exception as failure:  # what routing would count as a crash, shown instead
        answer, error = None, f"{type(failure).__name__}: {failure}"
    seconds = time.perf_counter() - started
    return Trial(answer, error, seconds, bot_name, request.transcript)
