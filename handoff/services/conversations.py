"""Every change of a conversation's state: escalate, claim, take over, transfer, release,
resolve, and the bot's own turns.

Each transition is one conditional UPDATE (`... WHERE state IN (allowed)`), so the
database, not a read made a moment earlier, decides who wins when two things happen
at once: two agents claiming, or an agent taking over while the bot is still
thinking. The loser learns why from `ConversationConflict`. The UPDATE, the conflict's
explanation and the recorded event are the shared pieces in `transitions`.
"""

import logging
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from handoff.live import presence
from handoff.models import Conversation, ConversationEvent, CustomerText, HandoffSettings, Message
from handoff.rules import service_window
from handoff.rules.payloads import MAX_MESSAGE_CHARS
from handoff.selectors import customer_texts, desk, opening_hours
from handoff.services import (
    assignment,
    campaign_choice,
    delivery,
    profile_sync,
    queue_updates,
    reply_timer,
    reporting,
    seats,
    sla,
    transitions,
)
from handoff.services.outbound import queue_outbound
from handoff.services.transitions import ConversationConflict, WindowClosed

logger = logging.getLogger(__name__)

State = Conversation.State
Kind = ConversationEvent.Kind
Author = Message.AuthorKind


def _is_owner(conversation: Conversation, agent: AbstractBaseUser) -> bool:
    return conversation.assignee_id == agent.pk or agent.is_staff


# --- Escalation -------------------------------------------------------------------


# Joins a caller's transaction without a savepoint (routing's, at every hand-over): a
# failure anywhere in it must undo the whole routing anyway, and the savepoint cost
# two round trips per hand-over.
@transaction.atomic(savepoint=False)
def escalate(
    *,
    conversation_id: int,
    kind: str,
    detail: str = "",
    actor_kind: str = Author.SYSTEM,
    now: datetime | None = None,
) -> Conversation | None:
    """Hand a bot conversation to the agents and tell the customer a person is coming.

    Outside the opening hours the customer is told instead when they open again; the
    conversation waits all the same (an agent may still take it) and the event records
    it (`outside_hours`, `opens_at`). `now` is the clock (tests pass a fixed one).
    Returns None when the conversation had already left the bot (nothing to do).
    """
    now = now or timezone.now()
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.BOT],
        state=State.WAITING,
        escalation_kind=kind,
        escalation_detail=detail[:500],
        escalated_at=now,
        waiting_since=now,
        first_reply_at=None,
        bot_misses=0,
    )
    if conversation is None:
        return None
    sla.refresh(conversation_id, now, into=conversation)  # the clocks start here
    reporting.handed_over(conversation, at=now)
    # Before any event is recorded: the seat lock comes first (reserve_at_handover).
    serving = desk.serving_agents(now=now)  # read once: who may take it, what to tell
    reservation = assignment.reserve_at_handover(conversation, now=now, serving=serving)
    handover = opening_hours.handover(conversation, now=now, serving=serving)
    transitions.record_event(
        conversation=conversation,
        kind=Kind.ESCALATED,
        actor_kind=actor_kind,
        data={
            "reason": conversation.escalation_reason,
            "detail": detail[:500],
            **handover.event_data(),
        },
    )
    profile_sync.record_escalation(conversation)
    if handover.text.strip():
        queue_outbound(conversation=conversation, text=handover.text, author_kind=Author.SYSTEM)
        if handover.place is not None:
            queue_updates.told(conversation_id, handover.place.position, now=now)
    assigned = assignment.assign_reserved(reservation, now=now) if reservation else None
    if assigned is None:
        assignment.wake_assigner()  # it waits: the assigner serves it in turn
    return assigned or conversation


# --- The bot's turns ----------------------------------------------------------------


@transaction.atomic
def queue_bot_reply(
    *,
    conversation: Conversation,
    text: str,
    in_reply_to: int | None = None,
    campaign: str = "",
    properties: dict | None = None,
) -> Message | Conversation | None:
    """Queue the bot's answer, unless a person owns the conversation by now.

    The check and the insert share one transaction and the check is an UPDATE on
    the conversation row, so an agent's take-over that commits first always wins:
    the answer is dropped and the drop recorded.

    An answer naming a campaign (by key) goes through it when it can; when it cannot
    (unknown or inactive, properties that do not fit, a response message outside the
    window) the text goes as plain text and the reason is logged and recorded. With
    no text to fall back on, it counts as a miss (returning what record_bot_miss does),
    so the customer is never left without an answer.
    """
    choice = None
    if campaign:
        choice = campaign_choice.for_bot(
            key=campaign, properties=properties or {}, text=text, contact=conversation.contact
        )
        if choice.problem:
            logger.warning(
                "Bot campaign not used in conversation %s: %s", conversation.pk, choice.problem
            )
            if not text.strip():
                _record_unused_campaign(conversation.pk, campaign, choice.problem, as_text=False)
                return record_bot_miss(
                    conversation_id=conversation.pk, error=choice.problem, in_reply_to=in_reply_to
                )
    now = timezone.now()
    still_bots = Conversation.objects.filter(pk=conversation.pk, state=State.BOT).update(
        bot_misses=0, updated_at=now, last_message_at=now
    )
    if not still_bots:
        _record_dropped_bot_reply(conversation.pk, text, in_reply_to)
        return None
    extra = {"in_reply_to": in_reply_to} if in_reply_to else {}
    chosen = choice.campaign if choice else None
    if choice and choice.problem:
        extra["campaign_not_used"] = {"campaign": campaign, "reason": choice.problem}
        _record_unused_campaign(conversation.pk, campaign, choice.problem, as_text=True)
    if chosen is not None and not text.strip():
        text = campaign_choice.summary_text(chosen, choice.properties)
    return queue_outbound(
        conversation=conversation,
        text=text,
        author_kind=Author.BOT,
        extra=extra or None,
        touch_conversation=False,
        campaign=chosen,
        campaign_properties=choice.properties if chosen else None,
    )


def _record_unused_campaign(conversation_id: int, key: str, problem: str, *, as_text: bool) -> None:
    """A bot reply's campaign was not used: agents see why in the audit trail."""
    transitions.record_event(
        conversation=transitions.current(conversation_id),
        kind=Kind.BOT_REPLY_DROPPED,
        actor_kind=Author.BOT,
        data={"campaign": key, "reason": problem, "sent_as_text": as_text},
    )


@transaction.atomic
def record_bot_miss(
    *, conversation_id: int, error: str = "", in_reply_to: int | None = None
) -> Message | Conversation | None:
    """The bot had no answer (or failed): apologise, or hand over once it happens too often.

    Returns the apology message, the escalated conversation, or None if a person
    already owns the conversation.
    """
    conversation = transitions.transition(
        conversation_id, from_states=[State.BOT], bot_misses=F("bot_misses") + 1
    )
    if conversation is None:
        _record_dropped_bot_reply(conversation_id, "", in_reply_to)
        return None
    settings = HandoffSettings.load()
    if conversation.bot_misses >= max(settings.bot_miss_limit, 1):
        kind = (
            Conversation.EscalationKind.BOT_ERROR
            if error
            else Conversation.EscalationKind.BOT_FALLBACK
        )
        return escalate(
            conversation_id=conversation_id, kind=kind, detail=error, actor_kind=Author.BOT
        )
    apology = customer_texts.text(
        CustomerText.Key.BOT_MISS, customer_texts.language_of(conversation)
    )
    return queue_outbound(conversation=conversation, text=apology, author_kind=Author.BOT)


def _record_dropped_bot_reply(conversation_id: int, text: str, in_reply_to: int | None) -> None:
    conversation = transitions.current(conversation_id)
    transitions.record_event(
        conversation=conversation,
        kind=Kind.BOT_REPLY_DROPPED,
        actor_kind=Author.BOT,
        data={"text": text[:500], "in_reply_to": in_reply_to, "state": conversation.state},
    )


# --- Agents ---------------------------------------------------------------------------


@transaction.atomic
def claim(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Take a waiting conversation. Of two agents claiming at once, exactly one wins."""
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.WAITING],
        state=State.ASSIGNED,
        assignee=agent,
        assigned_at=timezone.now(),
    )
    if conversation is None:
        raise transitions.conflict(transitions.current(conversation_id), agent)
    seats.lock_seat(agent.pk)  # after the conversation row, as the assigner does
    conversation.reply_due_at = reply_timer.restart(conversation_id)
    reporting.assigned(conversation, agent_id=agent.pk, at=conversation.assigned_at)
    transitions.record_event(
        conversation=conversation, kind=Kind.CLAIMED, actor=agent, actor_kind=Author.AGENT
    )
    seats.announce_load(agent.pk)
    return conversation


@transaction.atomic
def take_over(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Take a conversation from the bot (or from the queue) so the bot falls silent."""
    now = timezone.now()
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.BOT],
        state=State.ASSIGNED,
        assignee=agent,
        assigned_at=now,
        escalated_at=now,
        escalation_kind=Conversation.EscalationKind.AGENT_TAKEOVER,
        escalation_detail="",
        waiting_since=None,
        first_reply_at=None,
        bot_misses=0,
    )
    if conversation is None:
        return claim(conversation_id=conversation_id, agent=agent)
    seats.lock_seat(agent.pk)  # after the conversation row, as the assigner does
    conversation.reply_due_at = reply_timer.restart(conversation_id)
    sla.refresh(conversation_id, now, into=conversation)  # a hand-over to this agent
    reporting.handed_over(conversation, at=now)
    reporting.assigned(conversation, agent_id=agent.pk, at=now)
    transitions.record_event(
        conversation=conversation,
        kind=Kind.TAKEN_OVER,
        actor=agent,
        actor_kind=Author.AGENT,
        data={"reason": conversation.escalation_reason},
    )
    seats.announce_load(agent.pk)
    profile_sync.record_escalation(conversation)
    return conversation


@transaction.atomic
def transfer(
    *, conversation_id: int, agent: AbstractBaseUser, to_agent: AbstractBaseUser
) -> Conversation:
    """Give a conversation one owns (or one that waits) to another agent.

    Not past the receiver's capacity, unless a staff user chooses to (a supervisor
    balancing the load knows what they are doing; the event records it). Giving one
    to oneself is claiming, which capacity does not limit either.
    """
    if not to_agent.is_active or not to_agent.has_perm("handoff.answer_conversations"):
        raise ConversationConflict(
            _("%(who)s is not an active agent.") % {"who": to_agent.get_username()},
            conversation=transitions.current(conversation_id),
        )
    current = transitions.current(conversation_id)
    if current.state == State.ASSIGNED and not _is_owner(current, agent):
        raise transitions.conflict(current, agent)
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.WAITING, State.ASSIGNED],
        extra_filter=None
        if current.state == State.WAITING
        else transitions.owned_by(current.assignee_id),
        state=State.ASSIGNED,
        assignee=to_agent,
        assigned_at=timezone.now(),
    )
    if conversation is None:
        raise transitions.conflict(transitions.current(conversation_id), agent)
    data = {
        "from": current.assignee.get_username() if current.assignee else None,
        "to": to_agent.get_username(),
    }
    seats.lock_seat(to_agent.pk)  # after the conversation row, as the assigner does
    # The new owner gets the whole timer.
    conversation.reply_due_at = reply_timer.restart(conversation_id)
    reporting.assigned(conversation, agent_id=to_agent.pk, at=conversation.assigned_at)
    if to_agent.pk != current.assignee_id:
        load = presence.seats([to_agent.pk])[to_agent.pk]
        if load.open_count > load.capacity:  # counted with this conversation
            if not agent.is_staff and to_agent.pk != agent.pk:
                raise ConversationConflict(
                    _(
                        "%(who)s already has %(open)d of %(capacity)d open conversations; "
                        "a supervisor can still give them this one."
                    )
                    % {
                        "who": to_agent.get_username(),
                        "open": load.open_count - 1,
                        "capacity": load.capacity,
                    },
                    conversation=current,
                )
            data["over_capacity"] = True
    transitions.record_event(
        conversation=conversation,
        kind=Kind.TRANSFERRED,
        actor=agent,
        actor_kind=Author.AGENT,
        data=data,
    )
    seats.announce_load(current.assignee_id, to_agent.pk)
    if current.assignee_id is not None:
        assignment.wake_assigner()  # the giver has room again
    return conversation


@transaction.atomic
def release(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Put a conversation one owns back in the waiting queue for someone else."""
    current = transitions.current(conversation_id)
    if current.state != State.ASSIGNED or not _is_owner(current, agent):
        raise transitions.conflict(current, agent)
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.ASSIGNED],
        extra_filter=transitions.owned_by(current.assignee_id),
        state=State.WAITING,
        assignee=None,
        assigned_at=None,
        reply_due_at=None,
    )
    if conversation is None:
        raise transitions.conflict(transitions.current(conversation_id), agent)
    transitions.record_event(
        conversation=conversation, kind=Kind.RELEASED, actor=agent, actor_kind=Author.AGENT
    )
    seats.announce_load(current.assignee_id)
    assignment.wake_assigner()
    return conversation


@transaction.atomic
def resolve(*, conversation_id: int, agent: AbstractBaseUser) -> Conversation:
    """Close the conversation; the customer's next message starts a new one with the bot.

    When admin set an active satisfaction survey campaign, it is queued after the
    resolved text and `survey_sent_at` stamped. Outside the 24-hour window the
    resolved text and a response-kind survey are skipped, and the resolved event
    says why.
    """
    current = transitions.current(conversation_id)
    if current.state == State.ASSIGNED and not _is_owner(current, agent):
        raise transitions.conflict(current, agent)
    now = timezone.now()
    conversation = transitions.transition(
        conversation_id,
        from_states=[State.BOT, State.WAITING, State.ASSIGNED],
        extra_filter=None
        if current.state != State.ASSIGNED
        else transitions.owned_by(current.assignee_id),
        state=State.RESOLVED,
        resolved_at=now,
        waiting_since=None,
        reply_due_at=None,
        passed_over=None,
    )
    if conversation is None:
        raise transitions.conflict(transitions.current(conversation_id), agent)
    sla.refresh(conversation_id, now, into=conversation)  # every clock stops
    texts = HandoffSettings.load()
    survey = texts.survey_campaign
    if survey is not None and not survey.is_active:
        survey = None
    survey_note = None
    if survey is not None:
        sendable = campaign_choice.window_allows(survey, conversation.contact)
        survey_note = {"campaign": survey.key, "sent": sendable}
        if not sendable:
            survey_note["reason"] = "response-message survey and the 24-hour window is closed"
            logger.info("Survey skipped for conversation %s: window closed", conversation_id)
    data = {"survey": survey_note} if survey_note else {}
    # Free text after the window would be accepted by Braze and dropped by WhatsApp,
    # then fail in the agents' sight; leave it out and say so in the event instead.
    language = customer_texts.language_of(conversation)
    resolved_text = customer_texts.text(CustomerText.Key.RESOLVED, language)
    send_resolved_text = bool(resolved_text.strip())
    if send_resolved_text and not service_window.is_open(conversation.contact):
        send_resolved_text = False
        data["resolved_text"] = "not sent: the 24-hour window is closed"
    reporting.resolved(
        current,
        agent_id=agent.pk,
        at=now,
        survey_sent=bool(survey_note and survey_note["sent"]),
    )
    transitions.record_event(
        conversation=conversation,
        kind=Kind.RESOLVED,
        actor=agent,
        actor_kind=Author.AGENT,
        data=data,
    )
    if current.state == State.ASSIGNED:
        seats.announce_load(current.assignee_id)
        assignment.wake_assigner()  # the agent has room for the next one
    profile_sync.record_resolution(conversation)
    if send_resolved_text:
        queue_outbound(conversation=conversation, text=resolved_text, author_kind=Author.SYSTEM)
    if survey_note and survey_note["sent"]:
        properties = campaign_choice.conversation_properties(
            survey,
            conversation,
            agent,
            message=customer_texts.text(CustomerText.Key.SURVEY_PROMPT, language),
        )
        queue_outbound(
            conversation=conversation,
            text=campaign_choice.summary_text(survey, properties),
            author_kind=Author.SYSTEM,
            campaign=survey,
            campaign_properties=properties,
        )
        Conversation.objects.filter(pk=conversation_id).update(survey_sent_at=now)
        conversation.survey_sent_at = now
    return conversation


@transaction.atomic
def send_agent_reply(*, conversation_id: int, agent: AbstractBaseUser, text: str) -> Message:
    """An agent writes to the customer; writing into a bot or waiting chat takes it.

    Raises ValueError for an empty text or one over WhatsApp's 4,096 characters, and
    WindowClosed (a conflict) once the customer's 24-hour window has closed.
    """
    if not text.strip():
        raise ValueError(_("A reply cannot be empty."))
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError(
            _("A reply is limited to %(limit)d characters (WhatsApp's limit).")
            % {"limit": MAX_MESSAGE_CHARS}
        )
    current = transitions.current(conversation_id)
    if not service_window.is_open(current.contact):
        raise WindowClosed(service_window.closed_reason(current.contact), conversation=current)
    if current.state in (State.BOT, State.WAITING):
        current = take_over(conversation_id=conversation_id, agent=agent)
    elif current.state != State.ASSIGNED or current.assignee_id != agent.pk:
        raise transitions.conflict(current, agent)
    # Lock the row (a no-op UPDATE that must still match) so a concurrent transfer or
    # resolve cannot slip between the ownership check and the insert.
    if (
        transitions.transition(
            conversation_id,
            from_states=[State.ASSIGNED],
            extra_filter=transitions.owned_by(agent.pk),
        )
        is None
    ):
        raise transitions.conflict(transitions.current(conversation_id), agent)
    reply_timer.answered(conversation_id, agent_id=agent.pk)
    return queue_outbound(conversation=current, text=text, author_kind=Author.AGENT, author=agent)


@transaction.atomic
def retry_failed_message(*, message_id: int, agent: AbstractBaseUser) -> bool:
    """An agent queues a failed message again; False if it had not failed.

    The ownership rule of a reply: in a conversation assigned to another agent it is a
    conflict, as every other cross-agent action is. In a bot, waiting or resolved one
    it is queued without taking the conversation over, because it resends words
    already written (often the bot's or the system's) rather than new ones.
    """
    conversation_id = Message.objects.values_list("conversation_id", flat=True).get(pk=message_id)
    current = transitions.current(conversation_id)
    if current.state == State.ASSIGNED:
        # Lock the row, as send_agent_reply does, so a transfer cannot slip in between.
        locked = transitions.transition(
            conversation_id,
            from_states=[State.ASSIGNED],
            extra_filter=transitions.owned_by(agent.pk),
        )
        if locked is None:
            raise transitions.conflict(transitions.current(conversation_id), agent)
    return delivery.retry_by_hand(message_id=message_id, actor=agent)
