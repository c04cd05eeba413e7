"""Report facts (issue 16): each flow writes exactly its facts, in the transaction of
the change, once per run, with the bot's time apart from the agents'.

The services stamp the end of an interval with the wall clock; each test starts its
intervals in the past (an injected `now` for the hand-over, or rows set back), so the
figures are checked against the rows' own stamps, never against how fast the test ran.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from handoff.models import (
    BrazeCampaign,
    Conversation,
    HandoffSettings,
    Message,
    ReportFact,
    SlaPolicy,
)
from handoff.rules.payloads import InboundPayload
from handoff.services import conversations, erasure, reply_timer
from handoff.services.inbound import accept_inbound
from tests.support.agents import make_agent
from tests.support.factories import make_conversation

Kind = ReportFact.Kind
State = Conversation.State


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def aiko(agents_group):
    make_agent("aiko")
    return get_user_model().objects.get(username="aiko")


@pytest.fixture
def ben(agents_group):
    make_agent("ben")
    return get_user_model().objects.get(username="ben")


def facts(conversation) -> list[ReportFact]:
    return list(ReportFact.objects.filter(conversation=conversation).order_by("pk"))


def kinds(conversation) -> list[str]:
    return [fact.kind for fact in facts(conversation)]


def handed_over(minutes_ago: float, *, created_minutes_ago: float | None = None):
    """A bot conversation made `created_minutes_ago` and handed over `minutes_ago`."""
    now = timezone.now()
    conversation = make_conversation()
    if created_minutes_ago is not None:
        Conversation.objects.filter(pk=conversation.pk).update(
            created_at=now - minutes(created_minutes_ago)
        )
    return conversations.escalate(
        conversation_id=conversation.pk, kind="keyword", now=now - minutes(minutes_ago)
    )


def test_a_whole_episode_writes_each_fact_once_and_agent_times_start_at_the_hand_over(
    aiko,
):
    conversation = handed_over(30, created_minutes_ago=50)
    escalated_at = conversation.escalated_at
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hello")
    wrote = timezone.now() - minutes(1)
    reply_timer.customer_waits(conversation.pk, since=wrote)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Done")
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Bye")
    conversations.resolve(conversation_id=conversation.pk, agent=aiko)

    assert kinds(conversation) == [
        Kind.HANDOVER,
        Kind.ASSIGNMENT,
        Kind.FIRST_RESPONSE,
        Kind.NEXT_RESPONSE,
        Kind.RESOLUTION,
    ]  # the third reply owed nobody anything: no fact
    handover, assignment, first, following, resolution = facts(conversation)
    # The bot's 20 minutes are the hand-over fact's, and no agent figure's.
    assert (handover.started_at, handover.ended_at) == (
        Conversation.objects.get(pk=conversation.pk).created_at,
        escalated_at,
    )
    assert handover.seconds == pytest.approx(20 * 60)
    assert (handover.reason, handover.agent) == ("keyword", None)
    for fact in (assignment, first, resolution):
        assert fact.started_at == escalated_at
        assert fact.agent == aiko
        assert fact.seconds == (fact.ended_at - fact.started_at).total_seconds()
        assert fact.seconds >= 30 * 60
    assert following.started_at == wrote
    assert following.seconds == (following.ended_at - wrote).total_seconds()
    assert first.ended_at <= following.ended_at <= resolution.ended_at
    # No SLA policy: no clock ran, so no attainment either way.
    assert {fact.sla_met for fact in (first, following, resolution)} == {None}
    assert all(fact.business_seconds is None for fact in facts(conversation))


def test_a_take_over_is_a_hand_over_and_an_assignment_at_once(aiko):
    conversation = make_conversation()
    conversations.take_over(conversation_id=conversation.pk, agent=aiko)
    handover, assignment = facts(conversation)
    assert (handover.kind, handover.reason) == (Kind.HANDOVER, "agent_takeover")
    assert (assignment.kind, assignment.seconds, assignment.agent) == (Kind.ASSIGNMENT, 0, aiko)


def test_the_wait_for_an_agent_is_measured_once_per_hand_over(aiko, ben):
    conversation = handed_over(10)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.release(conversation_id=conversation.pk, agent=aiko)
    conversations.claim(conversation_id=conversation.pk, agent=ben)
    conversations.transfer(conversation_id=conversation.pk, agent=ben, to_agent=aiko)

    assignments = [fact for fact in facts(conversation) if fact.kind == Kind.ASSIGNMENT]
    assert [fact.agent for fact in assignments] == [aiko]


def test_a_rolled_back_change_leaves_no_fact(aiko):
    conversation = make_conversation()
    with pytest.raises(RuntimeError), transaction.atomic():
        conversations.take_over(conversation_id=conversation.pk, agent=aiko)
        raise RuntimeError("the request failed after the take-over")
    assert facts(conversation) == []


@pytest.fixture
def policy(db):
    row = SlaPolicy.objects.create(
        name="Standard", first_response_minutes=60, next_response_minutes=30, resolution_minutes=480
    )
    settings_row = HandoffSettings.load()
    settings_row.sla_policy = row
    settings_row.save()
    return row


def test_a_reply_in_time_meets_its_target(policy, aiko):
    conversation = handed_over(5)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hi")
    first = ReportFact.objects.get(conversation=conversation, kind=Kind.FIRST_RESPONSE)
    assert (first.sla_minutes, first.sla_met) == (60, True)
    assert not ReportFact.objects.filter(kind=Kind.SLA_BREACH).exists()


def test_a_late_reply_is_one_breach_and_a_missed_target(policy, aiko):
    conversation = handed_over(61)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Sorry")
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Still?")

    breach = ReportFact.objects.get(conversation=conversation, kind=Kind.SLA_BREACH)
    assert (breach.reason, breach.sla_minutes, breach.sla_met) == ("first_response", 60, False)
    assert breach.started_at == conversation.escalated_at
    assert breach.seconds == 3600
    first = ReportFact.objects.get(conversation=conversation, kind=Kind.FIRST_RESPONSE)
    assert (first.sla_minutes, first.sla_met) == (60, False)


def test_the_survey_score_lands_on_the_resolution_and_survives_erasure(aiko):
    campaign = BrazeCampaign.objects.create(
        key="csat", campaign_id="c-csat", name="CSAT", is_survey=True
    )
    settings_row = HandoffSettings.load()
    settings_row.survey_campaign = campaign
    settings_row.save()
    conversation = handed_over(10)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.resolve(conversation_id=conversation.pk, agent=aiko)
    resolution = ReportFact.objects.get(conversation=conversation, kind=Kind.RESOLUTION)
    assert resolution.survey_sent

    external_id = conversation.contact.external_id
    accepted = accept_inbound(
        InboundPayload(user_id=external_id, phone_number="+8190", message="5")
    )
    assert accepted.conversation_id == conversation.pk
    resolution.refresh_from_db()
    assert resolution.satisfaction_score == 5

    erasure.erase_contact(external_id=external_id, source="command")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    kept = ReportFact.objects.filter(pk=resolution.pk).values_list(
        "conversation_id", "satisfaction_score", "agent_id"
    )
    assert list(kept) == [(None, 5, aiko.pk)]
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
