"""handoff.rules.routing without a database: every branch of the routing decision, the
filing it carries, and (by property) that it always comes to an end.

Hypothesis runs deterministically (derandomize, no example database) and briefly.
"""

from types import EllipsisType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.models import Conversation, Message, TopicRoute
from handoff.rules import routing
from handoff.rules.routing import Action, BotTurn, Decision, Facts, Route, decide, filing

FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TO_BOT = Route(topic="", destination="bot", is_default=True)
SHIPPING_BOT = Route(topic="shipping", destination="bot", queue_label="Shipping")
BILLING_AGENTS = Route(topic="billing", destination="agents", queue_label="Billing")
DEFAULT_AGENTS = Route(topic="general", destination="agents", queue_label="Desk", is_default=True)


def facts(
    *,
    state: str = "bot",
    route: Route = TO_BOT,
    message_topic: str = "",
    conversation_topic: str = "",
    rule: str | None | EllipsisType = ...,
    bot: BotTurn | None = None,
) -> Facts:
    """Facts of a message; `rule` left out (...) means the rules have not run yet."""
    known = Facts(
        message_topic=message_topic,
        conversation_state=state,
        conversation_topic=conversation_topic,
        route=route,
        bot=bot,
    )
    return known if rule is ... else known.with_rule(rule)


def escalation(kind: str, detail: str, actor: str, topic: str = "", label: str = "") -> Decision:
    return Decision(
        action=Action.ESCALATE,
        topic=topic,
        queue_label=label,
        escalation_kind=kind,
        detail=detail,
        actor_kind=actor,
    )


ANSWERED = BotTurn(answered=True)
ASKED_FOR_A_PERSON = BotTurn(handoff=True, handoff_reason="customer is upset")
SILENT = BotTurn()
FAILED = BotTurn(error="model server unreachable")


@pytest.mark.parametrize(
    ("given_facts", "expected"),
    [
        pytest.param(
            facts(state="waiting"),
            Decision(action=Action.LEAVE_TO_PEOPLE, topic="", queue_label=""),
            id="waiting: left to people",
        ),
        pytest.param(
            facts(state="assigned", route=BILLING_AGENTS, message_topic="billing", bot=ANSWERED),
            Decision(action=Action.LEAVE_TO_PEOPLE, topic="billing", queue_label="Billing"),
            id="assigned: left to people, filed under the message's route",
        ),
        pytest.param(
            facts(state="resolved", rule="agent"),
            Decision(action=Action.LEAVE_TO_PEOPLE, topic="", queue_label=""),
            id="resolved: left to people, rules or not",
        ),
        pytest.param(
            facts(route=BILLING_AGENTS, message_topic="billing"),
            escalation("topic", "billing", "customer", "billing", "Billing"),
            id="route to agents: escalated by topic before the rules run",
        ),
        pytest.param(
            facts(route=DEFAULT_AGENTS, conversation_topic="promo"),
            escalation("topic", "general", "customer", "promo", "Desk"),
            id="default route to agents: the route's topic is the detail, the topic stays",
        ),
        pytest.param(
            facts(route=Route(topic="", destination="agents")),
            escalation("topic", "", "customer"),
            id="route to agents without a topic of its own: the filing's topic is the detail",
        ),
        pytest.param(
            facts(route=Route(topic="", destination="agents"), conversation_topic="vip"),
            escalation("topic", "vip", "customer", "vip"),
            id="route to agents without a topic, conversation filed: its topic is the detail",
        ),
        pytest.param(
            facts(),
            Decision(action=Action.CHECK_RULES, topic="", queue_label=""),
            id="bot route: the rules first",
        ),
        pytest.param(
            facts(route=SHIPPING_BOT, message_topic="shipping", bot=ANSWERED),
            Decision(action=Action.CHECK_RULES, topic="shipping", queue_label="Shipping"),
            id="bot route: the rules first, whatever else is known",
        ),
        pytest.param(
            facts(rule="agent"),
            escalation("keyword", "agent", "customer"),
            id="a rule matched: the customer asked for a person",
        ),
        pytest.param(
            facts(rule="", bot=ANSWERED),
            escalation("keyword", "", "customer"),
            id="a rule with an empty phrase matched: still a match",
        ),
        pytest.param(
            facts(route=SHIPPING_BOT, message_topic="shipping", rule="human"),
            escalation("keyword", "human", "customer", "shipping", "Shipping"),
            id="a rule matched on a bot route: escalated, filed under the route",
        ),
        pytest.param(
            facts(rule=None),
            Decision(action=Action.ASK_BOT, topic="", queue_label=""),
            id="no rule matched: ask the bot",
        ),
        pytest.param(
            facts(rule=None, bot=ASKED_FOR_A_PERSON),
            escalation("bot_handoff", "customer is upset", "bot"),
            id="the bot asked for a person",
        ),
        pytest.param(
            facts(rule=None, bot=BotTurn(answered=True, handoff=True, handoff_reason="")),
            escalation("bot_handoff", "", "bot"),
            id="the bot answered and asked for a person: the person wins",
        ),
        pytest.param(
            facts(rule=None, bot=ANSWERED),
            Decision(action=Action.REPLY, topic="", queue_label=""),
            id="the bot answered: reply",
        ),
        pytest.param(
            facts(route=SHIPPING_BOT, message_topic="shipping", rule=None, bot=ANSWERED),
            Decision(action=Action.REPLY, topic="shipping", queue_label="Shipping"),
            id="the bot answered on a bot route: reply, filed under the route",
        ),
        pytest.param(
            facts(rule=None, bot=SILENT),
            Decision(action=Action.RECORD_MISS, topic="", queue_label=""),
            id="the bot had no answer: a miss",
        ),
        pytest.param(
            facts(rule=None, bot=FAILED),
            Decision(
                action=Action.RECORD_MISS,
                topic="",
                queue_label="",
                detail="model server unreachable",
            ),
            id="the bot failed: a miss with its error",
        ),
    ],
)
def test_the_decision_for_each_set_of_facts(given_facts, expected):
    assert decide(given_facts) == expected


@pytest.mark.parametrize(
    ("message_topic", "conversation_topic", "route", "expected"),
    [
        ("billing", "", BILLING_AGENTS, ("billing", "Billing")),
        (" Billing ", "shipping", BILLING_AGENTS, ("billing", "Billing")),
        ("", "billing", BILLING_AGENTS, ("billing", "Billing")),
        ("promo", "", TO_BOT, ("", "")),
        ("promo", "shipping", DEFAULT_AGENTS, ("shipping", "Desk")),
        ("", "", SHIPPING_BOT, ("", "Shipping")),
    ],
    ids=[
        "the message's own topic names the route: filed under it",
        "compared without case or spaces",
        "a follow-up without a topic keeps the conversation's",
        "an unknown topic on the default route: the topic stays",
        "an unknown topic on a default route with a label: the label follows the route",
        "no topic at all: the label follows the route",
    ],
)
def test_filing_follows_the_messages_own_route_and_keeps_the_topic_otherwise(
    message_topic, conversation_topic, route, expected
):
    assert (
        filing(message_topic=message_topic, conversation_topic=conversation_topic, route=route)
        == expected
    )


def test_the_rules_names_are_the_models_values():
    assert routing.STATE_BOT == Conversation.State.BOT
    assert (routing.TO_AGENTS, routing.TO_BOT) == (
        TopicRoute.Destination.AGENTS,
        TopicRoute.Destination.BOT,
    )
    assert (routing.BY_TOPIC, routing.BY_KEYWORD, routing.BY_BOT_HANDOFF) == (
        Conversation.EscalationKind.TOPIC,
        Conversation.EscalationKind.KEYWORD,
        Conversation.EscalationKind.BOT_HANDOFF,
    )
    assert (routing.CUSTOMER, routing.BOT) == (
        Message.AuthorKind.CUSTOMER,
        Message.AuthorKind.BOT,
    )


# --- By property ----------------------------------------------------------------------

topics = st.sampled_from(["", "billing", "Billing", "shipping", "promo"])
routes = st.builds(
    Route,
    topic=st.sampled_from(["", "billing", "shipping"]),
    destination=st.sampled_from(["agents", "bot"]),
    queue_label=st.sampled_from(["", "Billing", "Desk"]),
)
turns = st.builds(
    BotTurn,
    answered=st.booleans(),
    handoff=st.booleans(),
    handoff_reason=st.sampled_from(["", "upset"]),
    error=st.sampled_from(["", "timeout"]),
)
states = st.sampled_from([choice.value for choice in Conversation.State])


@FAST
@given(
    state=states,
    route=routes,
    message_topic=topics,
    conversation_topic=topics,
    rule=st.none() | st.sampled_from(["agent", "human"]),
    turn=turns,
)
def test_asking_for_the_missing_facts_always_ends_in_a_decision_with_the_same_filing(
    state, route, message_topic, conversation_topic, rule, turn
):
    known = facts(
        state=state, route=route, message_topic=message_topic, conversation_topic=conversation_topic
    )
    asked = []
    decision = decide(known)
    while not decision.is_final:
        asked.append(decision.action)
        assert decision.action not in asked[:-1], "asked for the same fact twice"
        if decision.action is Action.CHECK_RULES:
            known = known.with_rule(rule)
        else:
            known = known.with_bot(turn)
        decision = decide(known)

    assert asked in ([], [Action.CHECK_RULES], [Action.CHECK_RULES, Action.ASK_BOT])
    assert (decision.topic, decision.queue_label) == filing(
        message_topic=message_topic, conversation_topic=conversation_topic, route=route
    )
    bot_asked = Action.ASK_BOT in asked
    # The bot is asked only about a bot's conversation on a bot route no rule escalated.
    assert bot_asked == (state == "bot" and not route.to_agents and rule is None)
    if decision.action in (Action.REPLY, Action.RECORD_MISS):
        assert bot_asked
    if decision.action is Action.ESCALATE:
        assert decision.escalation_kind in ("topic", "keyword", "bot_handoff")
        assert decision.actor_kind == (
            "bot" if decision.escalation_kind == "bot_handoff" else "customer"
        )
