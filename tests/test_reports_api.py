"""Reports for tools (issue 16): `/api/reports/summary/` against a hand computation,
who may read it, its range in a time zone, and the CSV export: one row per
conversation, streamed page by page in constant memory, agreeing with the summary.
"""

import csv
import io
import math
import tracemalloc
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import AsyncClient
from django.utils import timezone

from handoff.models import Conversation, ReportFact
from handoff.selectors import report_export
from handoff.services import conversations
from tests.support.agents import make_agent
from tests.support.factories import make_conversation
from tests.support.report_seed import seed_month

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = {"from": "2026-11-01", "to": "2026-11-30", "tz": "UTC"}


def hand_p(values, fraction):
    """Nearest rank, computed here the plain way: the ⌈p·n⌉-th smallest."""
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


@pytest.fixture
def lead(db):
    user = get_user_model().objects.create_user("lead", password="pw-lead-1234567")
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    return user


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_the_summary_matches_a_hand_computation_of_a_seeded_month(lead_client):
    seeded = seed_month(300, start=NOVEMBER, step=timedelta(hours=2))
    inside = [
        n for n in range(300) if NOVEMBER + n * timedelta(hours=2) < NOVEMBER + timedelta(days=30)
    ]

    answer = lead_client.get("/api/reports/summary/", MONTH)
    assert answer.status_code == 200, answer.content
    figures = answer.json()

    handed = [n for n in inside if n % 3 == 0]
    assert figures["conversations"]["total"] == len(inside)
    assert figures["conversations"]["handed_over"] == len(handed)
    assert figures["conversations"]["handover_rate"] == round(len(handed) / len(inside), 4)
    # The month is long past: every conversation the bot kept is settled.
    assert figures["conversations"]["contained"] == len(inside) - len(handed)
    first = [
        seeded.first_response_seconds[i] for i, n in enumerate(range(0, 300, 3)) if n in handed
    ]
    assert figures["first_response"]["count"] == len(first)
    assert figures["first_response"]["p50_seconds"] == round(hand_p(first, 0.5))
    assert figures["first_response"]["p90_seconds"] == round(hand_p(first, 0.9))
    assert figures["resolution"]["p50_seconds"] == 3600
    assert figures["handover_reasons"] == {"keyword": len(handed)}
    assert sum(day["conversations"] for day in figures["by_day"]) == len(inside)
    assert len(figures["by_day"]) == 30
    assert sum(map(sum, figures["hour_of_week"])) == len(handed)
    # 2026-11-02 is a Monday; conversation 0 was handed over at 00:02 on Sunday the 1st.
    assert figures["hour_of_week"][6][0] >= 1


def test_the_range_is_local_days_across_a_daylight_saving_change(lead_client):
    # New York left DST on 2026-11-01 at 02:00 local: that day has 25 hours.
    zone_day_start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 EDT
    make_conversation(created_at=zone_day_start - timedelta(minutes=1))  # Oct 31 there
    make_conversation(created_at=zone_day_start)
    make_conversation(created_at=zone_day_start + timedelta(hours=24, minutes=30))  # 23:30 EST
    make_conversation(created_at=zone_day_start + timedelta(hours=25))  # Nov 2 00:00 EST

    answer = lead_client.get(
        "/api/reports/summary/",
        {"from": "2026-11-01", "to": "2026-11-01", "tz": "America/New_York"},
    )
    assert answer.json()["conversations"]["total"] == 2


def test_a_real_episode_reaches_the_summary_through_the_services(lead_client, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    conversation = make_conversation()
    conversations.escalate(
        conversation_id=conversation.pk, kind="keyword", now=timezone.now() - timedelta(minutes=9)
    )
    conversations.claim(conversation_id=conversation.pk, agent=aiko)
    conversations.send_agent_reply(conversation_id=conversation.pk, agent=aiko, text="Hello")
    today = timezone.localdate().isoformat()

    figures = lead_client.get("/api/reports/summary/", {"from": today, "to": today}).json()
    fact = ReportFact.objects.get(conversation=conversation, kind="first_response")
    assert figures["first_response"]["count"] == 1
    assert figures["first_response"]["p50_seconds"] == round(fact.seconds)
    assert [row["name"] for row in figures["agents"]] == ["aiko"]
    only_aiko = lead_client.get(
        "/api/reports/summary/", {"from": today, "to": today, "agent": "aiko"}
    ).json()
    assert only_aiko["first_response"]["count"] == 1


@pytest.mark.parametrize(
    ("who", "status"), [("staff", 200), ("supervisor", 200), ("agent", 403), (None, 401)]
)
def test_only_staff_and_supervisors_read_reports(client, agents_group, lead, who, status):
    if who == "staff":
        client.force_login(get_user_model().objects.create_user("boss", is_staff=True))
    elif who == "supervisor":
        client.force_login(lead)
    elif who == "agent":
        make_agent("aiko")
        client.force_login(get_user_model().objects.get(username="aiko"))
    for path in ("/api/reports/summary/", "/api/reports/conversations.csv"):
        answer = client.get(path, MONTH)
        assert answer.status_code == status, (path, answer.content[:200])
        if status != 200:
            assert "error" in answer.json()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-11-30"}, "from"),
        ({"from": "2026-11-31", "to": "2026-12-01"}, "from"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-11-30"}, "to"),
        ({**MONTH, "tz": "Mars/Olympus"}, "tz"),
        ({**MONTH, "team": "999"}, "team"),
        ({**MONTH, "agent": "nobody"}, "agent"),
    ],
)
def test_a_bad_query_is_a_400_naming_the_parameter(lead_client, query, field):
    answer = lead_client.get("/api/reports/summary/", query)
    assert answer.status_code == 400
    assert field in answer.json()["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-11-30", "from": ""}, "from"),
        ({"from": "2026-11-31", "to": "2026-12-01"}, "from"),
        ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ({**MONTH, "tz": "Mars/Olympus"}, "tz"),
        ({**MONTH, "team": "999"}, "team"),
        ({**MONTH, "agent": "nobody"}, "agent"),
    ],
)
def test_the_reports_page_shows_a_bad_query_at_its_field_not_a_500(lead_client, query, field):
    answer = lead_client.get("/reports/", query)
    assert answer.status_code == 200
    assert f'id="error-{field}"' in answer.content.decode()
    assert "<figure" not in answer.content.decode()
    assert "no-store" in answer["Cache-Control"]


# --- The CSV --------------------------------------------------------------------------


async def stream_csv(client: AsyncClient, query: dict, into) -> int:
    """Read the export as daphne would (the async generator) into the file `into`,
    and return the peak of Python memory allocated meanwhile: the file, not a list,
    holds what was read, so the peak is the export's own."""
    response = await client.get("/api/reports/conversations.csv", query)
    assert response.status_code == 200
    assert response.streaming
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        async for chunk in response.streaming_content:
            into.write(chunk if isinstance(chunk, str) else chunk.decode())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def read_all(response) -> str:
    return "".join(
        [
            chunk if isinstance(chunk, str) else chunk.decode()
            async for chunk in response.streaming_content
        ]
    )


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db(transaction=True)
def test_the_export_streams_ten_thousand_rows_in_the_memory_of_one_page(lead, tmp_path):
    client = AsyncClient()
    client.force_login(lead)
    page = report_export.EXPORT_PAGE
    seed_month(page, start=NOVEMBER, step=timedelta(minutes=20))
    small, whole = tmp_path / "one-page.csv", tmp_path / "ten-thousand.csv"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume synchronous")
        with small.open("w") as out:
            small_peak = async_to_sync(stream_csv)(client, MONTH, out)
        seed_month(10_000 - page, start=NOVEMBER + timedelta(minutes=7), step=timedelta(minutes=4))
        with whole.open("w") as out:
            peak = async_to_sync(stream_csv)(client, MONTH, out)
    small_text, text = small.read_text(), whole.read_text()

    rows = csv_rows(text)
    assert len(csv_rows(small_text)) == page
    assert len(rows) == 10_000 == len({row["conversation_id"] for row in rows})
    assert text.splitlines()[0].startswith("conversation_id,created_at,state,")
    # Five times the rows, about the same memory: one page at a time, never the file.
    assert peak < 1.5 * small_peak + 1024 * 1024, (small_peak, peak)

    # The first-response column agrees with the summary's figures.
    answered = [int(row["first_response_seconds"]) for row in rows if row["first_response_seconds"]]
    summary = async_to_sync(client.get)("/api/reports/summary/", MONTH).json()
    assert summary["first_response"]["count"] == len(answered)
    assert summary["first_response"]["p50_seconds"] == hand_p(answered, 0.5)
    assert summary["first_response"]["p90_seconds"] == hand_p(answered, 0.9)


def test_export_cells_hold_no_customer_data_and_run_no_formula(lead_client, agents_group):
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    conversation = make_conversation(topic="=HYPERLINK(1)")
    Conversation.objects.filter(pk=conversation.pk).update(created_at=NOVEMBER)
    conversation.contact.name = "Secret Name"
    conversation.contact.save()
    conversations.take_over(conversation_id=conversation.pk, agent=aiko)

    answer = lead_client.get("/api/reports/conversations.csv", MONTH)
    assert answer["Content-Disposition"] == (
        'attachment; filename="conversations-2026-11-01-2026-11-30.csv"'
    )
    text = async_to_sync(read_all)(answer)
    [row] = csv_rows(text)
    assert row["topic"] == "'=HYPERLINK(1)"
    assert row["assignee"] == "aiko"
    assert row["handover_reason"] == "agent_takeover"
    assert "Secret Name" not in text and conversation.contact.phone_number not in text


@pytest.mark.server
def test_the_export_downloads_through_daphne_in_chunks(live, agents_group):
    """As a BI tool fetches it: through the server, streamed (chunked, no length)."""
    import requests

    from tests.support.agents import login

    lead_user = get_user_model().objects.create_user("boss", password="pw-boss-1234567")
    lead_user.user_permissions.add(Permission.objects.get(codename="supervise"))
    seed_month(2 * report_export.EXPORT_PAGE + 10, start=NOVEMBER, step=timedelta(minutes=8))
    session = login(live.url, "boss", "pw-boss-1234567")

    with session.get(
        f"{live.url}/api/reports/conversations.csv", params=MONTH, stream=True, timeout=60
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert "Content-Length" not in answer.headers
        text = b"".join(answer.iter_content(chunk_size=None)).decode()
    assert len(csv_rows(text)) == 2 * report_export.EXPORT_PAGE + 10
    assert requests.get(f"{live.url}/api/reports/conversations.csv", timeout=10).status_code == 401
