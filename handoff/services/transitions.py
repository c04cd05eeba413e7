"""The shared pieces of a conversation's state changes, for every service that makes one.

A transition is one conditional UPDATE (`... WHERE state IN (allowed)`), so the
database, not a read made a moment earlier, decides who wins when two things happen at
once; the loser gets a `ConversationConflict` that says why in words. What changed is
written as a ConversationEvent and told to the agents' inboxes by `record_event`.

The services that own the actions (conversations, campaigns, and the inbound path) call
these; this module never decides whether an action is allowed for an agent, never
queues a message and never talks to Braze.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from handoff.live.events import publish_conversation_changed
from handoff.models import Conversation, ConversationEvent, Message

State = Conversation.State


class ConversationConflict(Exception):
    """The conversation's state does not allow the action; the message says why."""

    def __init__(self, message: str, *, conversation: Conversation):
        super().__init__(message)
        self.message = message
        self.conversation = conversation


class WindowClosed(ConversationConflict):
    """Free text outside WhatsApp's 24-hour window: refused, never sent to fail."""


def transition(
    conversation_id: int, *, from_states, extra_filter: Q | None = None, **changes
) -> Conversation | None:
    """Apply `changes` only if the conversation is still in one of `from_states` (and
    matches `extra_filter`); the fresh row, or None when another change came first."""
    now = timezone.now()
    if changes.get("state", Conversation.State.WAITING) != Conversation.State.WAITING:
        # A place in the serving order belongs to a wait: leaving it ends it.
        changes.setdefault("serve_by", None)
    rows = Conversation.objects.filter(pk=conversation_id, state__in=list(from_states))
    if extra_filter is not None:
        rows = rows.filter(extra_filter)
    if not rows.update(updated_at=now, **changes):
        return None
    return current(conversation_id)


def current(conversation_id: int) -> Conversation:
    """The conversation as it is now, with what a conflict or an event needs loaded."""
    return Conversation.objects.select_related("contact", "assignee", "team").get(
        pk=conversation_id
    )


def announce(conversation_id: int) -> None:
    """Show the inboxes the conversation as it is now, with no history event: for
    changes that are not a step of its own (who owes the customer a reply)."""
    publish_conversation_changed(current(conversation_id), None)


def owned_by(assignee_id: int | None) -> Q:
    """The filter that keeps a transition to the owner the caller checked: a transfer
    committed in between makes the UPDATE match nothing."""
    return Q(assignee_id=assignee_id)


def conflict(
    conversation: Conversation, agent: AbstractBaseUser | None = None
) -> ConversationConflict:
    """Why `agent` cannot act on the conversation as it is now, in the agent's words."""
    if conversation.state == State.ASSIGNED:
        who = conversation.assignee.get_username() if conversation.assignee else "?"
        if agent is not None and conversation.assignee_id == agent.pk:
            text = _("You already have this conversation.")
        else:
            text = _("%(who)s has already claimed this conversation.") % {"who": who}
    elif conversation.state == State.RESOLVED:
        text = _("This conversation is resolved.")
    elif conversation.state == State.BOT:
        text = _("The bot is handling this conversation; take it over first.")
    else:
        text = _("This conversation is waiting for an agent; claim it first.")
    return ConversationConflict(text, conversation=conversation)


def record_event(
    *,
    conversation: Conversation,
    kind: str,
    actor: AbstractBaseUser | None = None,
    actor_kind: str = Message.AuthorKind.SYSTEM,
    data: dict | None = None,
    created_at: datetime | None = None,
) -> ConversationEvent:
    """Write what happened to the conversation's history and tell the agents' inboxes.

    The two go together so that no change is recorded without the inboxes hearing of it,
    nor announced without a row to show for it: the event row is written in the
    caller's transaction, and the publish stores its inbox event there too and pushes it
    to the sockets only after that transaction commits, so a rollback takes both back.
    """
    fields = {"created_at": created_at} if created_at is not None else {}
    event = ConversationEvent.objects.create(
        conversation=conversation,
        kind=kind,
        actor=actor,
        actor_kind=actor_kind,
        data=data or {},
        **fields,
    )
    publish_conversation_changed(conversation, event)
    return event
