"""Recording a customer's answer to the satisfaction survey sent after resolution.

After an agent resolves a conversation a survey campaign may ask for a score from 1
to 5 (`Conversation.survey_sent_at`). The customer's answer arrives as an ordinary
inbound message, which would otherwise open a new conversation with the bot (and get
"sorry, I didn't get that"). So a message that reads as a score, from a customer
with no open conversation whose latest conversation was surveyed within the last 24
hours and has no score yet, is stored in that resolved conversation instead, already
routed: the score is recorded, agents see it, and it goes to the Braze profile.

Reading a score (`rules.survey_score`) is deliberately narrow ("4", "４", "4/5",
"4 stars", "⭐⭐⭐⭐"): a customer who writes anything else starts a new conversation as
usual, because mistaking "2 more questions" for a bad score is worse than missing a
score.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff.live.events import publish_message_created
from handoff.models import Conversation, ConversationEvent, Message
from handoff.rules.payloads import InboundPayload
from handoff.rules.survey_score import parse_score
from handoff.services import profile_sync, reporting
from handoff.services.transitions import record_event

# How long after the survey went out an answer still counts as one.
ANSWER_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Answer:
    message_id: int
    conversation_id: int


def surveyed_conversation(*, contact_id: int, now: datetime) -> Conversation | None:
    """The resolved conversation a score from this customer would answer, if any:
    no open conversation, the latest surveyed within ANSWER_WINDOW, no score yet."""
    latest = (
        Conversation.objects.filter(contact_id=contact_id)
        .select_related("contact")
        .order_by("-created_at", "-pk")
        .first()
    )
    if (
        latest is None
        or latest.state != Conversation.State.RESOLVED
        or latest.survey_sent_at is None
        or now - latest.survey_sent_at > ANSWER_WINDOW
        or latest.satisfaction_score is not None
    ):
        return None
    if (
        Conversation.objects.filter(contact_id=contact_id)
        .exclude(state=Conversation.State.RESOLVED)
        .exists()
    ):
        return None
    return latest


def record_answer(
    *, contact_id: int, payload: InboundPayload, dedup_key: str | None, now: datetime
) -> Answer | None:
    """Store the message as the survey's answer and record its score; None when the
    message is not an answer (then the caller stores it as an ordinary message).

    Runs inside the webhook's transaction. The score is set with a conditional
    UPDATE, so of two answers racing only the first counts; the second is ordinary.
    """
    if payload.media_urls:
        return None
    score = parse_score(payload.message)
    if score is None:
        return None
    conversation = surveyed_conversation(contact_id=contact_id, now=now)
    if conversation is None:
        return None
    recorded = Conversation.objects.filter(
        pk=conversation.pk, satisfaction_score__isnull=True
    ).update(satisfaction_score=score, satisfaction_at=now, updated_at=now, last_message_at=now)
    if not recorded:
        return None
    reporting.scored(conversation.pk, score)
    message = Message.objects.create(
        conversation=conversation,
        contact_id=contact_id,
        direction=Message.Direction.INBOUND,
        author_kind=Message.AuthorKind.CUSTOMER,
        text=payload.message,
        extra=payload.extra,
        topic=payload.topic,
        external_message_id=payload.message_id,
        dedup_key=dedup_key,
        routing_state=Message.Routing.DONE,  # answered by recording it: no bot, no agent
        created_at=now,
    )
    conversation.satisfaction_score, conversation.satisfaction_at = score, now
    conversation.updated_at = conversation.last_message_at = now
    publish_message_created(message)
    record_event(
        conversation=conversation,
        kind=ConversationEvent.Kind.SATISFACTION,
        actor_kind=Message.AuthorKind.CUSTOMER,
        data={"score": score, "message_id": message.pk},
        created_at=now,
    )
    profile_sync.record_satisfaction(conversation)
    return Answer(message_id=message.pk, conversation_id=conversation.pk)
