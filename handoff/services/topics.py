"""Topic routes: which path a customer message takes, chosen by the webhook's `topic`.

A keyword-specific webhook campaign in Braze sends a `topic` ("billing"); an admin
maps it to a route: straight to agents with a queue label, or to the bot with a
knowledge subset and extra instructions. A message with no topic, or one no active
route knows, takes the default route (the route marked default, else the bot with
all FAQ knowledge). This module answers questions about routes and files a
conversation under one; what to do with a message is `handoff.rules.routing`'s
decision, which `handoff.services.routing` applies.

The webhook's hot path asks only `specific_topics()`, which is cached per process for
a couple of seconds so that storing a message costs no extra query for it; routing
asks `resolve()`, which reads the routes afresh so that an admin's change applies to
the next message routed.
"""

import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from handoff.jobs import wakeups
from handoff.live.events import publish_conversation_changed
from handoff.models import Conversation, TopicRoute
from handoff.rules.routing import Route, normalize_topic
from handoff.rules.text import normalize
from handoff.services import sla

Destination = TopicRoute.Destination

# How long a process trusts its list of active keyword routes (see module docstring).
SPECIFIC_TOPICS_TTL_SECONDS = 2.0


BUILT_IN_DEFAULT = Route(topic="", destination=Destination.BOT, is_default=True)


def resolve(message_topic: str, conversation_topic: str = "") -> Route:
    """The route for a message: its own topic's route, else the conversation's topic's
    route (follow-ups come through the catch-all campaign without a topic), else the
    default route. One query, two when the route is the bot's with a knowledge subset.
    """
    wanted = [t for t in (normalize_topic(message_topic), normalize_topic(conversation_topic)) if t]
    rows = list(
        TopicRoute.objects.filter(is_active=True).filter(Q(topic__in=wanted) | Q(is_default=True))
    )
    by_topic = {row.topic.lower(): row for row in rows}
    chosen = next((by_topic[t] for t in wanted if t in by_topic), None)
    if chosen is None:
        chosen = next((row for row in rows if row.is_default), None)
    if chosen is None:
        return BUILT_IN_DEFAULT
    return _as_route(chosen)


def _as_route(row: TopicRoute) -> Route:
    knowledge = None
    if row.destination == Destination.BOT:
        chosen = row.knowledge.filter(is_active=True).order_by("pk")
        ids = tuple(chosen.values_list("pk", flat=True))
        # Entries chosen but all switched off: answer from none of them rather than
        # from everything, which the admin limited on purpose.
        if ids or row.knowledge.exists():
            knowledge = ids
    return Route(
        topic=row.topic.lower(),
        destination=row.destination,
        queue_label=row.queue_label.strip(),
        team_id=row.team_id,
        instructions=row.bot_instructions.strip(),
        knowledge_ids=knowledge,
        is_default=row.is_default,
    )


# --- The webhook's view of the routes (cached) -------------------------------------


class _SpecificTopics:
    """Active routes other than the default, re-read at most every TTL seconds.

    A change in admin reaches the webhook of every process within the TTL; the only
    effect of a stale answer is a message held (or not held) for the merge window.
    """

    def __init__(self, ttl: float = SPECIFIC_TOPICS_TTL_SECONDS):
        self.ttl = ttl
        self._value: frozenset[str] = frozenset()
        self._words: tuple[str, ...] | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def get(self) -> frozenset[str]:
        self._refresh()
        return self._value

    def trigger_words(self) -> tuple[str, ...] | None:
        """Normalised trigger words of every keyword route; None when a keyword route
        gives none (then any message might be its copy)."""
        self._refresh()
        return self._words

    def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._expires:
            return
        with self._lock:
            if now >= self._expires:
                rows = list(
                    TopicRoute.objects.filter(is_active=True, is_default=False).only(
                        "topic", "trigger_words"
                    )
                )
                self._value = frozenset(row.topic.lower() for row in rows)
                words = [[normalize(w) for w in row.trigger_word_list] for row in rows]
                self._words = None if any(not w for w in words) else tuple(sum(words, []))
                self._expires = time.monotonic() + self.ttl

    def forget(self) -> None:
        self._expires = 0.0


_specific = _SpecificTopics()


def specific_topics() -> frozenset[str]:
    """Topics of the active keyword (non-default) routes, as this process last read them."""
    return _specific.get()


def forget_cached_routes() -> None:
    """Re-read the routes at the next message (admin saves, tests)."""
    _specific.forget()


def specificity(topic: str, specific: frozenset[str]) -> int:
    """How much a copy's topic says: a keyword route's topic (2) beats any other
    topic (1), which beats none (0)."""
    if not topic:
        return 0
    return 2 if topic in specific else 1


def merge_window_seconds() -> float:
    """HANDOFF_TOPIC_MERGE_SECONDS; 0 turns merging (and holding) off."""
    return max(float(getattr(settings, "HANDOFF_TOPIC_MERGE_SECONDS", 0) or 0), 0.0)


def hold_seconds(topic: str, specific: frozenset[str], text: str = "") -> float:
    """How long to keep a new message from routing so that a keyword campaign's copy
    of it can still arrive and win: the merge window for a message that would take
    the default route while keyword routes exist, else nothing.

    When every keyword route lists its Braze trigger words, only a message containing
    one can have a keyword copy on its way; the rest are routed at once, so the bot's
    answers to ordinary messages are not delayed by the window.
    """
    window = merge_window_seconds()
    if not window or not specific or topic in specific:
        return 0.0
    words = _specific.trigger_words()
    if words is None:
        return window
    folded = normalize(text)
    return window if any(word in folded for word in words) else 0.0


# --- Filing a conversation under its route -------------------------------------------


@transaction.atomic(savepoint=False)  # as conversations.escalate, whose transaction it joins
def file_conversation(
    *,
    conversation: Conversation,
    topic: str,
    queue_label: str,
    team_id: int | None = None,
    publish: bool = True,
) -> bool:
    """Bring the conversation's topic, queue label and team up to date; False if
    unchanged.

    `publish=False` when a transition in the same transaction publishes the
    conversation anyway (an escalation right after), so agents get one update. A
    waiting conversation that moves to another team's queue may now have an agent
    free for it, so the assigner is woken.
    """
    topic, queue_label = topic[:100], queue_label[:60]
    filed = (conversation.topic, conversation.queue_label, conversation.team_id)
    if filed == (topic, queue_label, team_id):
        return False
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        topic=topic, queue_label=queue_label, team_id=team_id, updated_at=now
    )
    conversation.topic, conversation.queue_label = topic, queue_label
    conversation.team_id = team_id
    if conversation.team_id != filed[2] and conversation.state == Conversation.State.WAITING:
        wakeups.wake_after_commit(wakeups.ASSIGNMENT)
    if conversation.team_id != filed[2] and conversation.state in (
        Conversation.State.WAITING,
        Conversation.State.ASSIGNED,
    ):
        # The new team's SLA policy and opening hours apply to the running clocks.
        sla.refresh(conversation.pk, now, into=conversation, resnapshot=True)
    if publish:
        publish_filing(conversation.pk)
    return True


def publish_filing(conversation_id: int) -> None:
    """Tell the agents' inboxes the conversation's filing changed (no history event:
    the topic and label are shown on the conversation itself)."""
    fresh = Conversation.objects.select_related("contact", "assignee", "team").get(
        pk=conversation_id
    )
    publish_conversation_changed(fresh, None)
