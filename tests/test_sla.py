"""SLA policies (issue 15, part 5): the clocks as pure rules with fixed instants (a
Tokyo schedule whose closed hours do not count), then the service with an injected
`now`: stored status, breaches recorded once per clock run across repeated scans, a
reply in time that stops the clock, snapshots that survive a policy edit, and the
team's policy. No test waits for the wall clock: `now` is passed in, or stored times
are moved."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from handoff.live.events import conversation_data
from handoff.models import (
    Conversation,
    ConversationEvent,
    HandoffSettings,
    OpeningInterval,
    Schedule,
    SlaPolicy,
    Team,
)
from handoff.rules import sla as rules
from handoff.rules.business_hours import BusinessHours, Interval
from handoff.rules.sla import Clock, Facts, Kind, State, Targets
from handoff.services import conversations, reply_timer, sla, topics
from tests.support.agents import make_agent
from tests.support.factories import make_conversation

MONDAY_9 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 9:00 in Tokyo
FRIDAY_1730 = datetime(2026, 12, 11, 8, 30, tzinfo=UTC)  # 17:30 in Tokyo
TOKYO = BusinessHours(
    time_zone="Asia/Tokyo", intervals=tuple(Interval(day, 9 * 60, 18 * 60) for day in range(5))
)
HOUR = Targets(first_response=60, next_response=30, resolution=8 * 60, at_risk_percent=20)
BreachKind = ConversationEvent.Kind.SLA_BREACHED


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- Rules ------------------------------------------------------------------------------


def test_clocks_start_at_the_hand_over_not_while_the_bot_has_it():
    assert rules.clock_starts(Facts(False, None, None, None)) == {}
    bot_again = Facts(is_open=False, escalated_at=MONDAY_9, first_reply_at=None, waiting_since=None)
    assert rules.clock_starts(bot_again) == {}
    handed = Facts(True, MONDAY_9, None, MONDAY_9)
    assert rules.clock_starts(handed) == {
        Kind.FIRST_RESPONSE: MONDAY_9,
        Kind.RESOLUTION: MONDAY_9,
    }


def test_the_first_reply_stops_the_first_clock_and_a_new_wait_runs_the_next():
    replied = MONDAY_9 + minutes(10)
    answered = Facts(True, MONDAY_9, replied, None)
    assert rules.clock_starts(answered) == {Kind.RESOLUTION: MONDAY_9}
    wrote = MONDAY_9 + minutes(20)
    waiting = Facts(True, MONDAY_9, replied, wrote)
    assert rules.clock_starts(waiting) == {Kind.NEXT_RESPONSE: wrote, Kind.RESOLUTION: MONDAY_9}


def test_due_and_at_risk_instants_when_always_open():
    clock = rules.start_clock(Kind.FIRST_RESPONSE, MONDAY_9, HOUR, None)
    assert clock.due_at == MONDAY_9 + minutes(60)
    assert clock.at_risk_at == MONDAY_9 + minutes(48)  # 20 % of the hour left
    assert rules.start_clock(Kind.FIRST_RESPONSE, MONDAY_9, Targets(), None) is None


def test_tokyo_hours_closed_time_does_not_count():
    """Handed over Friday 17:30 in Tokyo with an hour's target: 30 minutes on Friday,
    the weekend paused, due Monday 9:30; at risk after 48 minutes, Monday 9:18."""
    clock = rules.start_clock(Kind.FIRST_RESPONSE, FRIDAY_1730, HOUR, TOKYO)
    assert clock.due_at == datetime(2026, 12, 14, 0, 30, tzinfo=UTC)  # Monday 9:30 JST
    assert clock.at_risk_at == datetime(2026, 12, 14, 0, 18, tzinfo=UTC)
    # Saturday noon the clock stands still: still ok, due unchanged.
    saturday = datetime(2026, 12, 12, 3, 0, tzinfo=UTC)
    shown = rules.status({Kind.FIRST_RESPONSE: clock}, [], saturday)
    assert (shown.state, shown.due_at) == (State.OK, clock.due_at)
    assert shown.check_at == clock.at_risk_at


def test_a_japanese_public_holiday_counts_as_closed():
    with_holidays = BusinessHours(
        time_zone="Asia/Tokyo", intervals=TOKYO.intervals, holiday_country="JP"
    )
    # Monday 2027-01-11 is Coming of Age Day: Friday 17:30 + 60 min is Tuesday 9:30.
    friday = datetime(2027, 1, 8, 8, 30, tzinfo=UTC)
    clock = rules.start_clock(Kind.FIRST_RESPONSE, friday, HOUR, with_holidays)
    assert clock.due_at == datetime(2027, 1, 12, 0, 30, tzinfo=UTC)


def test_status_nearest_at_risk_then_breached_and_the_next_check():
    first = rules.start_clock(Kind.FIRST_RESPONSE, MONDAY_9, HOUR, None)
    whole = rules.start_clock(Kind.RESOLUTION, MONDAY_9, HOUR, None)
    clocks = {Kind.FIRST_RESPONSE: first, Kind.RESOLUTION: whole}

    shown = rules.status(clocks, [], MONDAY_9 + minutes(1))
    assert (shown.kind, shown.state, shown.check_at) == (
        Kind.FIRST_RESPONSE,
        State.OK,
        first.at_risk_at,
    )
    shown = rules.status(clocks, [], MONDAY_9 + minutes(50))
    assert (shown.state, shown.check_at) == (State.AT_RISK, first.due_at)
    shown = rules.status(clocks, [], MONDAY_9 + minutes(61))
    assert (shown.kind, shown.state) == (Kind.FIRST_RESPONSE, State.BREACHED)
    assert shown.check_at == whole.at_risk_at  # the resolution clock still moves
    assert rules.status({}, [], MONDAY_9) is None


def test_a_breached_running_clock_wins_over_a_nearer_one():
    late = Clock(Kind.RESOLUTION, MONDAY_9, 60, MONDAY_9 + minutes(60), MONDAY_9 + minutes(48))
    nearer = Clock(
        Kind.NEXT_RESPONSE,
        MONDAY_9 + minutes(70),
        30,
        MONDAY_9 + minutes(100),
        MONDAY_9 + minutes(94),
    )
    shown = rules.status(
        {Kind.RESOLUTION: late, Kind.NEXT_RESPONSE: nearer}, ["resolution"], MONDAY_9 + minutes(75)
    )
    assert (shown.kind, shown.state) == (Kind.RESOLUTION, State.BREACHED)
    assert shown.check_at == nearer.at_risk_at


def test_breaches_once_per_run_and_a_late_stop_counts():
    first = rules.start_clock(Kind.FIRST_RESPONSE, MONDAY_9, HOUR, None)
    clocks = {Kind.FIRST_RESPONSE: first}
    after = MONDAY_9 + minutes(61)
    assert rules.new_breaches(clocks, clocks, [], after) == [first]
    assert rules.new_breaches(clocks, clocks, ["first_response"], after) == []
    # The reply came at 61 minutes, before any scan: the clock stops, breached.
    assert rules.new_breaches(clocks, {}, [], after) == [first]
    # The reply came in time: nothing.
    assert rules.new_breaches(clocks, {}, [], MONDAY_9 + minutes(59)) == []
    # A new wait is a new run: the old run's breach is forgotten.
    wait_1 = rules.start_clock(Kind.NEXT_RESPONSE, MONDAY_9, HOUR, None)
    wait_2 = rules.start_clock(Kind.NEXT_RESPONSE, MONDAY_9 + minutes(90), HOUR, None)
    kept = rules.breached_runs(
        {Kind.NEXT_RESPONSE: wait_1}, {Kind.NEXT_RESPONSE: wait_2}, ["next_response"], []
    )
    assert kept == []


def test_a_running_clock_keeps_its_snapshot_until_resnapshot():
    old = rules.start_clock(Kind.FIRST_RESPONSE, MONDAY_9, HOUR, None)
    edited = Targets(first_response=5)
    starts = {Kind.FIRST_RESPONSE: MONDAY_9}
    assert not rules.needs_snapshot(starts, {Kind.FIRST_RESPONSE: old})
    kept = rules.running_clocks(starts, {Kind.FIRST_RESPONSE: old}, edited, None)
    assert kept[Kind.FIRST_RESPONSE].due_at == old.due_at
    moved = rules.running_clocks(starts, {Kind.FIRST_RESPONSE: old}, edited, None, resnapshot=True)
    assert moved[Kind.FIRST_RESPONSE].due_at == MONDAY_9 + minutes(5)
    json = rules.clocks_to_json(kept)
    assert rules.clocks_from_json(json) == kept


# --- The service, with an injected clock ----------------------------------------------------


@pytest.fixture
def policy(db):
    row = SlaPolicy.objects.create(
        name="Standard", first_response_minutes=60, next_response_minutes=30, resolution_minutes=480
    )
    settings_row = HandoffSettings.load()
    settings_row.sla_policy = row
    settings_row.auto_assign = False
    settings_row.save()
    return row


def handed_over(now: datetime) -> Conversation:
    conversation = make_conversation()
    return conversations.escalate(conversation_id=conversation.pk, kind="keyword", now=now)


def breaches(conversation) -> list[dict]:
    return list(
        ConversationEvent.objects.filter(conversation=conversation, kind=BreachKind)
        .order_by("id")
        .values_list("data", flat=True)
    )


def test_the_hand_over_starts_the_clocks_and_the_summary_carries_them(policy):
    now = timezone.now()
    conversation = handed_over(now)
    assert conversation_data(conversation)["sla"] == {
        "due_at": (now + minutes(60)).isoformat(),
        "kind": "first_response",
        "state": "ok",
    }
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.sla_check_at == now + minutes(48)
    event = ConversationEvent.objects.get(conversation=conversation, kind="escalated")
    assert event.conversation_id == conversation.pk


def test_no_policy_no_clock(db):
    conversation = handed_over(timezone.now())
    assert conversation_data(conversation)["sla"] is None
    assert Conversation.objects.get(pk=conversation.pk).sla_check_at is None


def test_at_risk_then_breached_once_even_if_the_scan_runs_twice(policy, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    start = timezone.now()
    conversation = handed_over(start)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)

    assert sla.check_due(start + minutes(10)) is False  # nothing due yet
    assert sla.check_due(start + minutes(50)) is True
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_state, stored.sla_check_at) == ("at_risk", start + minutes(60))
    assert breaches(conversation) == []

    later = start + minutes(61)
    assert sla.check_due(later) is True
    assert sla.check_due(later) is False  # the next check is the resolution's at-risk
    assert sla.check_due(later + minutes(1)) is False
    assert breaches(conversation) == [
        {
            "kind": "first_response",
            "due_at": (start + minutes(60)).isoformat(),
            "minutes": 60,
            "assignee": "aiko",
        }
    ]
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_state, stored.sla_kind, stored.sla_breached) == (
        "breached",
        "first_response",
        ["first_response"],
    )
    # Two scanners that read the same due row: the stale one matches nothing.
    stale = stored.sla_check_at
    Conversation.objects.filter(pk=conversation.pk).update(sla_check_at=stale)
    sla.check_due(stale)
    sla.check_due(stale)
    assert len(breaches(conversation)) == 1


def test_a_stale_scan_applies_nothing(policy):
    start = timezone.now()
    conversation = handed_over(start)
    seen = Conversation.objects.get(pk=conversation.pk).sla_check_at
    # Another process applied the change first: the row's sla_check_at moved on.
    Conversation.objects.filter(pk=conversation.pk).update(sla_check_at=seen + minutes(1))
    from django.db.models import Q

    assert (
        sla._recompute(conversation.pk, now=start + minutes(61), claim=Q(sla_check_at=seen)) is None
    )
    assert breaches(conversation) == []


def test_a_reply_in_time_stops_the_first_clock_and_no_breach_follows(policy, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    start = timezone.now() - minutes(5)
    conversation = handed_over(start)
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hello")

    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.first_reply_at is not None
    assert stored.sla_kind == "resolution"  # only the resolution clock still runs
    assert stored.sla_due_at == start + minutes(480)
    while sla.check_due(start + minutes(120)):
        pass
    assert breaches(conversation) == []


def test_a_late_reply_records_the_breach_the_scanner_had_not_seen(policy, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    conversation = handed_over(timezone.now() - minutes(61))
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Sorry")
    assert [b["kind"] for b in breaches(conversation)] == ["first_response"]
    assert Conversation.objects.get(pk=conversation.pk).sla_state == "ok"  # resolution runs


def test_next_response_each_unanswered_wait_is_its_own_run(policy, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    conversation = handed_over(timezone.now() - minutes(2))
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hi")

    wrote = timezone.now()
    reply_timer.customer_waits(conversation.pk, since=wrote)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_kind, stored.sla_due_at) == ("next_response", wrote + minutes(30))
    while sla.check_due(wrote + minutes(31)):
        pass
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Here")
    again = timezone.now()
    reply_timer.customer_waits(conversation.pk, since=again)
    while sla.check_due(again + minutes(31)):
        pass
    assert [b["kind"] for b in breaches(conversation)] == ["next_response", "next_response"]


def test_paused_outside_hours(policy):
    """A hand-over at Friday 17:30 in Tokyo: the scanner on Saturday changes nothing,
    Monday 9:18 turns it at risk, Monday 9:30 breached."""
    office = Schedule.objects.create(name="Tokyo", time_zone="Asia/Tokyo")
    for day in range(5):
        OpeningInterval.objects.create(schedule=office, weekday=day, opens=540, closes=1080)
    settings_row = HandoffSettings.load()
    settings_row.schedule = office
    settings_row.save()
    conversation = handed_over(FRIDAY_1730)

    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.sla_due_at == datetime(2026, 12, 14, 0, 30, tzinfo=UTC)
    assert sla.check_due(datetime(2026, 12, 12, 3, 0, tzinfo=UTC)) is False
    assert sla.check_due(datetime(2026, 12, 14, 0, 20, tzinfo=UTC)) is True
    assert Conversation.objects.get(pk=conversation.pk).sla_state == "at_risk"
    assert breaches(conversation) == []
    sla.check_due(datetime(2026, 12, 14, 0, 31, tzinfo=UTC))
    assert [b["kind"] for b in breaches(conversation)] == ["first_response"]


def test_editing_the_policy_does_not_move_a_running_clock(policy):
    start = timezone.now()
    conversation = handed_over(start)
    policy.first_response_minutes = 5
    policy.save()
    sla.refresh(conversation.pk, start + minutes(1))
    assert Conversation.objects.get(pk=conversation.pk).sla_due_at == start + minutes(60)


def test_a_teams_policy_applies_and_a_team_change_takes_the_new_targets(policy):
    quick = Team.objects.create(
        name="Quick", sla_policy=SlaPolicy.objects.create(name="Quick", first_response_minutes=10)
    )
    start = timezone.now()
    conversation = handed_over(start)
    assert Conversation.objects.get(pk=conversation.pk).sla_due_at == start + minutes(60)
    topics.file_conversation(conversation=conversation, topic="x", queue_label="", team_id=quick.pk)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.sla_due_at == start + minutes(10)  # the same start, the team's target
    assert stored.sla_clocks.keys() == {"first_response"}  # Quick measures nothing else


def test_resolving_stops_every_clock_and_a_late_resolve_is_a_breach(policy, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    conversation = handed_over(timezone.now() - minutes(481))
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Done")
    conversations.resolve(conversation_id=conversation.pk, agent=aiko)
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.sla_due_at, stored.sla_state, stored.sla_check_at, stored.sla_clocks) == (
        None,
        "",
        None,
        {},
    )
    assert [b["kind"] for b in breaches(conversation)] == ["first_response", "resolution"]
    assert conversation_data(stored)["sla"] is None


def test_at_risk_percent_is_validated(db):
    from django.core.exceptions import ValidationError

    row = SlaPolicy(name="Odd", at_risk_percent=100)
    with pytest.raises(ValidationError):
        row.full_clean()


# --- Admin ------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db, client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-123456789"))
    return client


def test_admin_manages_policies_and_names_them_on_teams_and_settings(admin_client):
    response = admin_client.post(
        "/admin/handoff/slapolicy/add/",
        {
            "name": "Gold",
            "first_response_minutes": "15",
            "next_response_minutes": "",
            "resolution_minutes": "240",
            "at_risk_percent": "25",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    gold = SlaPolicy.objects.get(name="Gold")
    assert (gold.first_response_minutes, gold.next_response_minutes, gold.at_risk_percent) == (
        15,
        None,
        25,
    )
    refused = admin_client.post(
        "/admin/handoff/slapolicy/add/", {"name": "Odd", "at_risk_percent": "100"}
    )
    assert refused.status_code == 200 and not SlaPolicy.objects.filter(name="Odd").exists()
    assert b"Gold" in admin_client.get("/admin/handoff/slapolicy/").content

    team = Team.objects.create(name="Billing")
    page = admin_client.get(f"/admin/handoff/team/{team.pk}/change/").content.decode()
    assert 'name="sla_policy"' in page
    settings_page = admin_client.get(
        f"/admin/handoff/handoffsettings/{HandoffSettings.load().pk}/change/"
    ).content.decode()
    assert 'name="sla_policy"' in settings_page
