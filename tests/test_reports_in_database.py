"""The summary counted and ranked by the database (selectors/percentiles.py) says what
the first summary, which read every fact into Python, said for the same month: a varied
month (several agents, teams and topics, next responses, SLA breaches, take-overs,
surveys) and a single day, in a zone other than UTC. On PostgreSQL `make bench`'s
reports phase checks the same at 100,000 conversations.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from handoff.models import ReportFact, Team
from handoff.rules.report_stats import LocalRange
from handoff.selectors import percentiles, reports
from tests.support import report_reference
from tests.support.report_seed import Varied, seed_month

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2027, 1, 15, tzinfo=UTC)


@pytest.fixture
def varied_month(db):
    agents = [get_user_model().objects.create_user(f"agent-{n}") for n in range(3)]
    teams = [Team.objects.create(name=f"Team {n}") for n in range(2)]
    varied = Varied(
        agent_ids=[agent.pk for agent in agents],
        team_ids=[team.pk for team in teams],
        topics=("billing", "delivery", "returns"),
        next_per_conversation=2,
        spread=True,
    )
    start = datetime(2026, 10, 31, 12, tzinfo=UTC)
    seed_month(400, start=start, step=timedelta(hours=2), varied=varied, handover_every=2)
    # A take-over's first response is shown apart, never ranked.
    fact = ReportFact.objects.filter(kind="first_response").order_by("pk")[5]
    ReportFact.objects.filter(pk=fact.pk).update(reason="agent_takeover")
    # An agent whose only fact is a take-over's first response is still listed.
    lonely = get_user_model().objects.create_user("lonely")
    ReportFact.objects.filter(pk=fact.pk).update(agent=lonely)


@pytest.mark.parametrize(
    "span",
    [
        LocalRange(date(2026, 11, 1), date(2026, 11, 30), TOKYO),
        LocalRange(date(2026, 11, 7), date(2026, 11, 7), TOKYO),
    ],
    ids=["month", "day"],
)
def test_the_summary_counted_in_the_database_equals_the_one_counted_in_python(varied_month, span):
    report = reports.ReportFilter(span)

    figures = reports.summary(report, now=NOW)

    assert figures == report_reference.summary(report, now=NOW)
    assert figures["next_response"]["count"] > 0
    assert figures["sla"]["first_response"]["missed"] > 0
    assert len(figures["agents"]) >= 3


def test_filters_narrow_both_summaries_alike(varied_month):
    month = LocalRange(date(2026, 11, 1), date(2026, 11, 30), TOKYO)
    team = Team.objects.get(name="Team 1")
    agent = get_user_model().objects.get(username="agent-2")
    for report in (
        reports.ReportFilter(month, team_id=team.pk),
        reports.ReportFilter(month, topic="billing"),
        reports.ReportFilter(month, agent_id=agent.pk),
    ):
        assert reports.summary(report, now=NOW) == report_reference.summary(report, now=NOW)


def test_a_group_with_no_matching_row_is_still_listed_with_no_percentiles(varied_month):
    facts = ReportFact.objects.filter(kind="resolution")

    spread = percentiles.ranked(facts, [("kind",)], "seconds", when=Q(seconds__lt=0))

    assert spread[("kind",)][("resolution",)]["count"] == 0
    assert spread[("kind",)][("resolution",)]["p90"] is None
    assert spread[("kind",)][("resolution",)]["p50"] is None


@pytest.mark.parametrize("hashing", [True, False], ids=["hashed", "hashing-off"])
def test_percentiles_are_read_by_position_only_from_a_plan_that_keeps_the_sorted_order(
    varied_month, hashing
):
    """On PostgreSQL a group's values are ranked by position only when the plan hashes
    the sorted rows straight into their groups; with hashing turned off (a sort by the
    groups' keys would reorder each group's values) every group is sorted again. Both
    give the figures the Python rule gives."""
    report = reports.ReportFilter(LocalRange(date(2026, 11, 1), date(2026, 11, 30), TOKYO))
    queries = []

    def logged(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.cursor() as cursor, connection.execute_wrapper(logged):
        if connection.vendor == "postgresql":
            # The planner's statistics, as autovacuum would have them after a month.
            cursor.execute("ANALYZE handoff_reportfact")
            if not hashing:
                cursor.execute("SET LOCAL enable_hashagg = off")  # the test's transaction
        figures = reports.summary(report, now=NOW)

    assert figures == report_reference.summary(report, now=NOW)
    if connection.vendor == "postgresql":
        ranked = [sql for sql in queries if "GROUPING SETS" in sql and "EXPLAIN" not in sql]
        assert len(ranked) == 3  # response figures, opening-hours figures, the bot's time
        by_position = ["PERCENTILE_DISC" not in sql for sql in ranked]
        assert by_position == [hashing] * 3
