"""Routing each customer message: gather the facts, decide, apply the decision once.

A worker claims the oldest pending message of a customer (never a later one while
an earlier one is being routed, so answers keep the customer's order). What happens
to it is decided by `handoff.rules.routing` from plain facts: the message's topic
route, the conversation's state, the escalation rule its text triggers, the bot's
answer. The rules are checked, and the bot asked, only when the decision needs them;
the bot is asked outside any transaction, because it may take seconds.

The final decision is applied in one transaction: the conversation's filing (topic,
queue label), the outcome (a hand-over, the bot's reply, a miss) and the "routed"
mark commit together or not at all. A worker that dies before that commit leaves
nothing behind, and the message is routed again when its lease lapses.

This module never decides anything itself, and never holds a transaction or a row
lock while the bot thinks; whether the bot still owns the conversation when its
answer arrives is settled by the conditional UPDATE in `services.conversations`.
"""

import logging
import time

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.utils import timezone

from handoff.bots import BOTS, BotAnswer, BotError, BotRequest, get_bot
from handoff.jobs.claims import claim_head_of_line
from handoff.models import HandoffSettings, Message
from handoff.rules.routing import Action, BotTurn, Decision, Facts, Route, decide
from handoff.services import conversations, reply_timer, topics
from handoff.services.escalation import matching_active_rule
from handoff.telemetry import log_context
from handoff.telemetry.metrics import (
    BOT_ANSWERS,
    BOT_SECONDS,
    ROUTING_DELAY_SECONDS,
    observe_between,
)

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
    with log_context.working_on(message.conversation_id):
        try:
            route(message)
        except (ObjectDoesNotExist, IntegrityError):
            if Message.objects.filter(pk=message.pk).exists():
                raise
            # Erased while it was routed (handoff.services.erasure): what the routing
            # wrote about it was rolled back, and there is nothing left to route.
            logger.info("Message %s was erased while being routed; dropped", message.pk)
    return True


def route(message: Message) -> None:
    """Learn the facts the decision asks for, then apply it once."""
    conversation = message.conversation
    facts = Facts(
        message_topic=message.topic,
        conversation_state=conversation.state,
        conversation_topic=conversation.topic,
        route=topics.resolve(message.topic, conversation.topic),
    )
    decision = decide(facts)
    if decision.action is Action.CHECK_RULES:
        rule = matching_active_rule(message.text, message_id=message.pk)
        facts = facts.with_rule(rule.phrase if rule is not None else None)
        decision = decide(facts)
    answer = None
    if decision.action is Action.ASK_BOT:
        answer, error = _ask_bot(message, facts.route, topic=decision.topic)
        turn = BotTurn(
            answered=answer.has_answer,
            handoff=answer.handoff,
            handoff_reason=answer.handoff_reason,
            error=error,
        )
        decision = decide(facts.with_bot(turn))
    _apply(message, decision, answer)


def _apply(message: Message, decision: Decision, answer: BotAnswer | None) -> None:
    """The filing, the outcome and "routed" commit together, so a crash in between
    routes the message again rather than answering it twice or filing it half."""
    if not decision.is_final:
        raise ValueError(f"Routing cannot apply {decision.action}: it still needs a fact")
    conversation = message.conversation
    escalating = decision.action is Action.ESCALATE
    with transaction.atomic(), HandoffSettings.held():
        # An escalation publishes the conversation, filing included: one update.
        filed = topics.file_conversation(
            conversation=conversation,
            topic=decision.topic,
            queue_label=decision.queue_label,
            team_id=decision.team_id,
            publish=not escalating,
        )
        if escalating:
            escalated = conversations.escalate(
                conversation_id=conversation.pk,
                kind=decision.escalation_kind,
                detail=decision.detail,
                actor_kind=decision.actor_kind,
            )
            if escalated is None:  # an agent took it over meanwhile: they owe a reply
                reply_timer.customer_waits(conversation.pk, since=message.created_at)
                if filed:
                    topics.publish_filing(conversation.pk)
        elif decision.action is Action.REPLY:
            conversations.queue_bot_reply(
                conversation=conversation,
                text=answer.text,
                in_reply_to=message.pk,
                campaign=answer.campaign,
                properties=answer.properties,
            )
        elif decision.action is Action.RECORD_MISS:
            conversations.record_bot_miss(
                conversation_id=conversation.pk, error=decision.detail, in_reply_to=message.pk
            )
        else:  # LEAVE_TO_PEOPLE: the message already reached their inbox
            reply_timer.customer_waits(conversation.pk, since=message.created_at)
        _mark_routed(message)
    logger.info("Message %s routed: %s", message.pk, decision.action.value)


def _mark_routed(message: Message) -> None:
    Message.objects.filter(pk=message.pk).update(
        routing_state=Message.Routing.DONE, claimed_until=None
    )
    # Hop 2 for /metrics: stored -> routing committed.
    transaction.on_commit(
        lambda: observe_between(ROUTING_DELAY_SECONDS, message.created_at, timezone.now())
    )


def _bot_label() -> str:
    """The configured bot as a metric label: its short name, or "custom" for a class
    path (a bounded label, whatever admins configure)."""
    return settings.HANDOFF_BOT if settings.HANDOFF_BOT in BOTS else "custom"


def _ask_bot(message: Message, route: Route, *, topic: str) -> tuple[BotAnswer, str]:
    """The bot's answer, or an empty answer and the error that prevented one."""
    request = BotRequest(
        conversation_id=message.conversation_id,
        message_id=message.pk,
        contact_external_id=message.conversation.contact.external_id,
        contact_name=message.conversation.contact.name,
        text=message.text,
        topic=topic,  # the topic the conversation is about to be filed under
        queue_label=route.queue_label,
        instructions=route.instructions,
        knowledge_ids=route.knowledge_ids,
    )
    bot = _bot_label()
    started = time.perf_counter()
    try:
        answer = get_bot().answer(request)
    except BotError as error:
        logger.warning("Bot failed on message %s: %s", message.pk, error)
        answer, problem = BotAnswer(), str(error) or "bot error"
    except Exception as error:
        logger.exception("Bot crashed on message %s", message.pk)
        answer, problem = BotAnswer(), f"{type(error).__name__}: {error}"
    else:
        problem = ""
    # Hop 3 for /metrics, failures included: a bot that times out is slow, too.
    BOT_SECONDS.labels(bot=bot).observe(time.perf_counter() - started)
    BOT_ANSWERS.labels(bot=bot, outcome=_bot_outcome(answer, problem)).inc()
    return answer, problem


def _bot_outcome(answer: BotAnswer, problem: str) -> str:
    if problem:
        return "error"
    if answer.handoff:
        return "handoff"
    return "answered" if answer.has_answer else "miss"
