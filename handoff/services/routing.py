"""Deciding what happens to each customer message: rules, then the bot, then people.

A worker claims the oldest pending message of a customer (never a later one while
an earlier one is being routed, so answers keep the customer's order), then:
the message's topic route files the conversation (topic, queue label); a
conversation that people own is left to them; a route straight to agents hands it
over at once; an escalation rule hands it over; otherwise the bot is asked, with the
route's knowledge and instructions, outside any transaction because it may be slow,
and its answer is queued only if the bot still owns the conversation.
"""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff.bots import BotAnswer, BotError, BotRequest, get_bot
from handoff.jobs.claims import claim_head_of_line
from handoff.models import Conversation, Message
from handoff.rules.routing import Route, filing
from handoff.services import conversations, topics
from handoff.services.escalation import matching_active_rule

logger = logging.getLogger(__name__)


def claim_next_inbound() -> Message | None:
    """Claim the next routable message, oldest first, at most one per customer."""
    now = timezone.now()
    return claim_head_of_line(
        state_field="routing_state",
        states=(Message.Routing.PENDING,),
        now=now,
        rows=Message.objects.select_related("conversation__contact"),
    )


def route_next() -> bool:
    """Route one message if there is one; False when there was nothing to do.

    If routing raises (a database outage, say), the claim is left to lapse and the
    message is routed again later: an accepted message is never dropped.
    """
    message = claim_next_inbound()
    if message is None:
        return False
    try:
        route(message)
    except (ObjectDoesNotExist, IntegrityError):
        if Message.objects.filter(pk=message.pk).exists():
            raise
        # Erased while it was routed (handoff.services.erasure): what the routing wrote
        # about it was rolled back, and there is nothing left to route.
        logger.info("Message %s was erased while being routed; dropped", message.pk)
    return True


def route(message: Message) -> None:
    """Decide and act; the decision and "routed" commit together, so a crash in
    between routes the message again rather than answering it twice."""
    conversation = message.conversation
    path = topics.resolve(message.topic, conversation.topic)
    topic, label = filing(
        message_topic=message.topic, conversation_topic=conversation.topic, route=path
    )
    if conversation.state != Conversation.State.BOT:
        with transaction.atomic():
            topics.file_conversation(conversation=conversation, topic=topic, queue_label=label)
            _mark_routed(message)  # people own it; the message already reached their inbox
        return
    if path.to_agents:
        with transaction.atomic():
            filed = topics.file_conversation(
                conversation=conversation, topic=topic, queue_label=label, publish=False
            )
            escalated = conversations.escalate(
                conversation_id=conversation.pk,
                kind=Conversation.EscalationKind.TOPIC,
                detail=path.topic or topic,
                actor_kind=Message.AuthorKind.CUSTOMER,
                queue_label=label,
            )
            if escalated is None and filed:  # an agent took it over meanwhile
                topics.publish_filing(conversation.pk)
            _mark_routed(message)
        return
    topics.file_conversation(conversation=conversation, topic=topic, queue_label=label)
    rule = matching_active_rule(message.text, message_id=message.pk)
    if rule is not None:
        with transaction.atomic():
            conversations.escalate(
                conversation_id=conversation.pk,
                kind=Conversation.EscalationKind.KEYWORD,
                detail=rule.phrase,
                actor_kind=Message.AuthorKind.CUSTOMER,
            )
            _mark_routed(message)
        return
    answer, error = _ask_bot(message, path)
    with transaction.atomic():
        _act_on_answer(message, answer, error)
        _mark_routed(message)


def _mark_routed(message: Message) -> None:
    Message.objects.filter(pk=message.pk).update(
        routing_state=Message.Routing.DONE, claimed_until=None
    )


def _act_on_answer(message: Message, answer: BotAnswer, error: str) -> None:
    conversation = message.conversation
    if answer.handoff:
        conversations.escalate(
            conversation_id=conversation.pk,
            kind=Conversation.EscalationKind.BOT_HANDOFF,
            detail=answer.handoff_reason,
            actor_kind=Message.AuthorKind.BOT,
        )
    elif answer.has_answer:
        conversations.queue_bot_reply(
            conversation=conversation,
            text=answer.text,
            in_reply_to=message.pk,
            campaign=answer.campaign,
            properties=answer.properties,
        )
    else:
        conversations.record_bot_miss(
            conversation_id=conversation.pk, error=error, in_reply_to=message.pk
        )


def _ask_bot(message: Message, route: Route) -> tuple[BotAnswer, str]:
    """The bot's answer, or an empty answer and the error that prevented one."""
    request = BotRequest(
        conversation_id=message.conversation_id,
        message_id=message.pk,
        contact_external_id=message.conversation.contact.external_id,
        contact_name=message.conversation.contact.name,
        text=message.text,
        topic=message.conversation.topic,
        queue_label=route.queue_label,
        instructions=route.instructions,
        knowledge_ids=route.knowledge_ids,
    )
    try:
        return get_bot().answer(request), ""
    except BotError as error:
        logger.warning("Bot failed on message %s: %s", message.pk, error)
        return BotAnswer(), str(error) or "bot error"
    except Exception as error:
        logger.exception("Bot crashed on message %s", message.pk)
        return BotAnswer(), f"{type(error).__name__}: {error}"
