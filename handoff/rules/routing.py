"""What routing does with one customer message: a pure decision from the facts.

The facts are plain values: the message's topic, the conversation's state and topic as
routing found them, the topic route the message takes, the escalation rule its text
triggered, and what the bot did with it. The decision names one action and the filing
(topic and queue label) the conversation carries afterwards. `handoff.services.routing`
gathers the facts, asks, and applies the final decision once, in one transaction.

Some facts cost something to learn: the escalation rules run the customer's text
through every active pattern, and the bot may think for seconds. So they are learned
only when the decision needs them, and `decide` says so: CHECK_RULES, then ASK_BOT, are
the decisions it makes while a fact it needs is still missing.

It never reads or writes the database and never asks the bot. Nor does it decide who
wins a race with an agent: a take-over while the bot is thinking is settled when the
decision is applied, by the conditional UPDATE on the conversation row, never here
from a read that could be stale by then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

# The models' TextChoices values (a member equals its value); rules import no models.
STATE_BOT = "bot"  # Conversation.State.BOT
TO_AGENTS, TO_BOT = "agents", "bot"  # TopicRoute.Destination
BY_TOPIC, BY_KEYWORD, BY_BOT_HANDOFF = "topic", "keyword", "bot_handoff"  # EscalationKind
CUSTOMER, BOT = "customer", "bot"  # Message.AuthorKind, for who asked for a person


@dataclass(frozen=True)
class Route:
    """A resolved topic route. `knowledge_ids` None means all active FAQ entries."""

    topic: str  # the route's own topic; "" for the built-in default
    destination: str
    queue_label: str = ""
    team_id: int | None = None  # the team whose queue its hand-overs wait in
    instructions: str = ""
    knowledge_ids: tuple[int, ...] | None = None
    is_default: bool = False

    @property
    def to_agents(self) -> bool:
        return self.destination == TO_AGENTS


@dataclass(frozen=True)
class BotTurn:
    """What the bot did with the message: answered (text or a campaign to send), asked
    for a person, or neither; `error` says why when it failed."""

    answered: bool = False
    handoff: bool = False
    handoff_reason: str = ""
    error: str = ""


@dataclass(frozen=True)
class Facts:
    """What routing knows about one message. `bot` None: the bot has not been asked."""

    message_topic: str
    conversation_state: str
    conversation_topic: str
    route: Route
    rules_checked: bool = False
    matched_rule: str | None = None  # the phrase of the escalation rule the text triggered
    bot: BotTurn | None = None

    def with_rule(self, phrase: str | None) -> Facts:
        """These facts once the escalation rules have run (`phrase` None: none matched)."""
        return replace(self, rules_checked=True, matched_rule=phrase)

    def with_bot(self, turn: BotTurn) -> Facts:
        return replace(self, bot=turn)


class Action(StrEnum):
    LEAVE_TO_PEOPLE = "leave_to_people"  # people own the conversation: file it, no more
    ESCALATE = "escalate"  # hand it to the agents (the route, a rule, or the bot asked)
    REPLY = "reply"  # queue the bot's answer
    RECORD_MISS = "record_miss"  # the bot had no answer or failed
    # Not decided yet: the fact named is needed first.
    CHECK_RULES = "check_rules"
    ASK_BOT = "ask_bot"


@dataclass(frozen=True)
class Decision:
    """What to do, and the (topic, queue label) to file the conversation under.

    For ESCALATE: `escalation_kind`, `detail` and who asked (`actor_kind`); for
    RECORD_MISS: `detail` is the bot's error, if it failed.
    """

    action: Action
    topic: str
    queue_label: str
    team_id: int | None = None
    escalation_kind: str = ""
    detail: str = ""
    actor_kind: str = ""

    @property
    def is_final(self) -> bool:
        return self.action not in (Action.CHECK_RULES, Action.ASK_BOT)


def normalize_topic(topic: str) -> str:
    """Topics are slugs compared without case: "Billing" from a template is "billing"."""
    return topic.strip().lower()


def filing(*, message_topic: str, conversation_topic: str, route: Route) -> tuple[str, str]:
    """The (topic, queue_label) a conversation should carry after this message.

    A message whose own topic names a route moves the conversation to that topic; one
    without (a follow-up through the catch-all campaign) leaves the topic as it is.
    The label is always the label of the route the message took, so an admin's
    change of label reaches open conversations with their next message.
    """
    own = normalize_topic(message_topic)
    topic = route.topic if own and own == route.topic else conversation_topic
    return topic, route.queue_label


def decide(facts: Facts) -> Decision:
    """The decision for these facts, in this order: people who own the conversation
    keep it; a route straight to agents hands it over; then an escalation rule the
    text triggers; then the bot: asking for a person, answering, or missing.

    Every decision files the conversation: people see the topic and label, whoever
    answers.
    """
    topic, label = filing(
        message_topic=facts.message_topic,
        conversation_topic=facts.conversation_topic,
        route=facts.route,
    )

    def decision(action: Action, **why: str) -> Decision:
        return Decision(
            action=action, topic=topic, queue_label=label, team_id=facts.route.team_id, **why
        )

    if facts.conversation_state != STATE_BOT:
        return decision(Action.LEAVE_TO_PEOPLE)  # the message already reached their inbox
    if facts.route.to_agents:
        return decision(
            Action.ESCALATE,
            escalation_kind=BY_TOPIC,
            detail=facts.route.topic or topic,
            actor_kind=CUSTOMER,
        )
    if not facts.rules_checked:
        return decision(Action.CHECK_RULES)
    if facts.matched_rule is not None:
        return decision(
            Action.ESCALATE,
            escalation_kind=BY_KEYWORD,
            detail=facts.matched_rule,
            actor_kind=CUSTOMER,
        )
    bot = facts.bot
    if bot is None:
        return decision(Action.ASK_BOT)
    if bot.handoff:
        return decision(
            Action.ESCALATE,
            escalation_kind=BY_BOT_HANDOFF,
            detail=bot.handoff_reason,
            actor_kind=BOT,
        )
    if bot.answered:
        return decision(Action.REPLY)
    return decision(Action.RECORD_MISS, detail=bot.error)
