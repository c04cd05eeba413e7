"""Private notes: agents writing to each other on a conversation, and `@name` mentions.

Any agent may add a note to any conversation, in any state (with the bot, waiting,
someone else's, resolved): every agent can see every conversation, and a note asks
nothing of the conversation's owner or its state. A note is stored as a `Note`, never
as a `Message`, so nothing here can reach Braze or a bot's transcript, and it changes
nothing of the conversation (its state, its order in the queues, the customer's
waiting time, the unread marks). The agents it mentions are resolved by
`rules.mentions` against the active agents and told through the `note.created` event.

It never records a ConversationEvent: the note is itself the record of who wrote what
and when, and the audit trail is for changes of the conversation, which a note is not.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from handoff.live.events import publish_note_created
from handoff.models import Conversation, Note, NoteMention
from handoff.rules import mentions as mention_rules
from handoff.rules.payloads import MAX_MESSAGE_CHARS, text_problem
from handoff.selectors.agents import agent_ids_by_username


class NoteInvalid(ValueError):
    """The note's text cannot be stored; the message says why."""


@dataclass(frozen=True)
class NoteAdded:
    note: Note
    mentioned: list[str]  # usernames notified, in the order written
    unresolved: list[str]  # `@names` that matched no active agent, as written


@transaction.atomic
def add_note(*, conversation_id: int, agent: AbstractBaseUser, text: str) -> NoteAdded:
    """Add `agent`'s private note to the conversation and notify the agents it mentions.

    Raises NoteInvalid for an empty text, one over 4,096 characters (the same bound as a
    reply, so a note can be quoted into one) or one with control characters, and
    Conversation.DoesNotExist when the conversation is gone (erased meanwhile).
    """
    if not text.strip():
        raise NoteInvalid(_("A note cannot be empty."))
    if len(text) > MAX_MESSAGE_CHARS:
        raise NoteInvalid(
            _("A note is limited to %(limit)d characters.") % {"limit": MAX_MESSAGE_CHARS}
        )
    if problem := text_problem(text, multiline=True):
        raise NoteInvalid(problem)
    # Lock the conversation row to commit: an erasure of it waits, and its scrub of the
    # event feed then finds this note's event (PostgreSQL; SQLite has one writer).
    if not list(
        Conversation.objects.select_for_update().filter(pk=conversation_id).values_list("pk")
    ):
        raise Conversation.DoesNotExist(f"There is no conversation {conversation_id}.")
    roster = agent_ids_by_username()
    found = mention_rules.read_mentions(text, usernames=roster, author=agent.get_username())
    note = Note.objects.create(
        conversation_id=conversation_id,
        author=agent,
        author_name=agent.get_username(),
        text=text,
    )
    NoteMention.objects.bulk_create(
        NoteMention(note=note, agent_id=roster[username]) for username in found.usernames
    )
    publish_note_created(note, mentions=list(found.usernames))
    return NoteAdded(note=note, mentioned=list(found.usernames), unresolved=list(found.unresolved))
