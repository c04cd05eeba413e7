"""The reports page in Chromium (issue 16, step 4): a supervisor who is not staff opens
/reports/ for a seeded month and reads every chart with its table, the headline figures
and the per-agent table, each equal to a hand computation made here; a filter changes
the figures; the time zone comes from the browser; a wrong date is shown next to its
field; an agent without the permission gets the 403 page; and axe finds nothing serious
in English or Japanese. The `tab` fixture fails a test on console errors, CSP
violations included.
"""

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect

from tests.support import a11y
from tests.support.agents import make_agent
from tests.support.report_seed import seed_month
from tests.test_a11y import (  # noqa: F401 - localized_tab is a fixture
    ALWAYS_CHECKED,
    expected_language,
    localized_tab,
    page_language,
)
from tests.test_browser import PASSWORD, Tab, chromium, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.server

NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = "/reports/?from=2026-11-01&to=2026-11-30&tz=UTC"


def hand_p(values, fraction):
    """Nearest rank, the plain way: the ⌈p·n⌉-th smallest."""
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


def shown(seconds: float) -> str:
    """A duration under an hour as the page writes it: "1 min 35 s", "2 min", "45 s"."""
    minutes, rest = divmod(round(seconds), 60)
    if minutes and rest:
        return f"{minutes} min {rest} s"
    return f"{minutes} min" if minutes else f"{rest} s"


def make_supervisor(username: str = "lead", *, agent: bool = False):
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="supervise"))
    if agent:
        user.groups.add(Group.objects.get(name="Agents"))
    return user


def sign_in(opened: Tab, base_url: str, username: str, then: str = "/reports/") -> None:
    """Open `then`, get sent to the login page, sign in by the form's field ids (so the
    steps hold in any language) and land on `then`."""
    page = opened.page
    page.goto(base_url + then)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page).to_have_url(base_url + then)


@pytest.fixture
def month(live, agents_group):
    """November 2026: 60 conversations every 12 hours whose agent facts are aiko's, and
    30 more at 06:00 every day with no agent; every third of each handed over."""
    make_agent("aiko")
    aiko = get_user_model().objects.get(username="aiko")
    with_aiko = seed_month(60, start=NOVEMBER, step=timedelta(hours=12), agent_id=aiko.pk)
    nobody = seed_month(30, start=NOVEMBER + timedelta(hours=6), step=timedelta(hours=24))
    return with_aiko, nobody


def figure(page, key: str):
    return page.locator(f'[data-figure="{key}"] dd')


def chart_rows(page, caption: str) -> list[list[str]]:
    """The cells of the table under the chart with this caption, header row first."""
    table = page.locator("figure.chart", has=page.locator("figcaption", has_text=caption))
    return table.locator("table tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )


def test_a_supervisor_reads_every_chart_and_table_of_a_seeded_month(
    live,
    month,
    tab,  # noqa: F811 - the fixture imported above
):
    with_aiko, nobody = month
    make_supervisor()
    sign_in(tab, live.url, "lead")
    page = tab.page
    page.goto(live.url + MONTH)

    conversations = 60 + 30
    handed = len(with_aiko.first_response_seconds) + len(nobody.first_response_seconds)
    first = with_aiko.first_response_seconds + nobody.first_response_seconds
    assert handed == 30
    expect(figure(page, "conversations")).to_have_text(str(conversations))
    expect(figure(page, "handed-over")).to_have_text(str(handed))
    expect(figure(page, "handover-rate")).to_have_text(f"{100 * handed / conversations:.1f}%")
    expect(figure(page, "first-response-p50")).to_have_text(shown(hand_p(first, 0.5)))
    expect(figure(page, "first-response-p90")).to_have_text(shown(hand_p(first, 0.9)))
    expect(figure(page, "resolution-p50")).to_have_text("1 h")

    # Four charts, each an image with a name, each followed by its table.
    charts = page.locator("figure.chart")
    expect(charts).to_have_count(4)
    for n in range(4):
        svg = charts.nth(n).locator("svg[role=img]")
        expect(svg).to_be_visible()
        assert svg.get_attribute("aria-label")
        expect(charts.nth(n).locator("table")).to_be_visible()

    daily = chart_rows(page, "Conversations and hand-overs per day")
    assert daily[0] == ["Day", "Conversations", "Handed over"]
    assert len(daily) == 1 + 30
    # 1 November: aiko's 00:00 and 12:00, the other's 06:00; both series' first handed over.
    assert daily[1] == ["2026-11-01", "3", "2"]
    assert sum(int(row[1]) for row in daily[1:]) == conversations
    assert sum(int(row[2]) for row in daily[1:]) == handed

    heat = chart_rows(page, "Hand-overs by weekday and hour")
    assert len(heat) == 8 and len(heat[0]) == 25
    assert sum(int(cell) for row in heat[1:] for cell in row[1:]) == handed
    # 1 November 2026 is a Sunday: its 00:02 hand-over is in the last row, first hour.
    assert heat[7][0] == "Sun" and int(heat[7][1]) >= 1

    assert chart_rows(page, "Hand-over reasons")[1:] == [["keyword", str(handed)]]
    times = chart_rows(page, "Response times")
    assert times[0] == ["Clock", "Median", "90th percentile"]
    assert ["First response", shown(hand_p(first, 0.5)), shown(hand_p(first, 0.9))] in times
    assert ["Resolution", "1 h", "1 h"] in times

    aiko_row = page.locator("#table-agents tbody tr", has_text="aiko")
    aiko_first = with_aiko.first_response_seconds
    expect(aiko_row.locator("td").nth(0)).to_have_text(str(len(aiko_first)))
    expect(aiko_row.locator("td").nth(1)).to_have_text(shown(hand_p(aiko_first, 0.5)))
    expect(aiko_row.locator("td").nth(2)).to_have_text(shown(hand_p(aiko_first, 0.9)))
    expect(page.locator("#csv-link")).to_have_attribute(
        "href", "/api/reports/conversations.csv?from=2026-11-01&to=2026-11-30&tz=UTC"
    )
    tab.screenshot("reports-month")

    # Only aiko's intervals: the response figures change, the conversations do not.
    page.locator("#id_agent").select_option("aiko")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"agent=aiko"))
    expect(figure(page, "first-response-p50")).to_have_text(shown(hand_p(aiko_first, 0.5)))
    expect(figure(page, "first-response-p90")).to_have_text(shown(hand_p(aiko_first, 0.9)))
    expect(figure(page, "conversations")).to_have_text(str(conversations))
    expect(page.locator("#id_agent")).to_have_value("aiko")
    assert ["First response", shown(hand_p(aiko_first, 0.5)), shown(hand_p(aiko_first, 0.9))] in (
        chart_rows(page, "Response times")
    )
    expect(page.locator("#csv-link")).to_have_attribute("href", re.compile(r"&agent=aiko$"))
    assert hand_p(aiko_first, 0.5) != hand_p(first, 0.5) or hand_p(aiko_first, 0.9) != hand_p(
        first, 0.9
    ), "the seeds must make the filter visible"
    tab.assert_clean()


def test_the_report_is_in_the_browser_s_time_zone_and_a_bad_date_is_shown_at_its_field(
    live,
    tab,  # noqa: F811 - the fixture imported above
):
    make_supervisor()
    sign_in(tab, live.url, "lead")
    page = tab.page
    session = tab.context.new_cdp_session(page)
    session.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})

    page.goto(live.url + "/reports/")
    expect(page.locator("#id_tz")).to_have_value("Asia/Tokyo")
    # The default range: the last 30 days up to today.
    first, last = page.locator("#id_from").input_value(), page.locator("#id_to").input_value()
    span = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    assert span == timedelta(days=29)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo"))
    expect(page.locator(".report-range")).to_contain_text("Asia/Tokyo")

    page.goto(live.url + "/reports/?from=2026-11-31&to=2026-11-01&tz=UTC")
    expect(page.locator("#error-from")).to_contain_text("is not a date")
    expect(page.locator("#id_from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("figure.chart")).to_have_count(0)
    page.goto(live.url + "/reports/?from=2026-11-30&to=2026-11-01&tz=UTC")
    expect(page.locator("#error-to")).to_contain_text("must not be before")


def test_an_agent_without_the_permission_sees_no_reports_link_and_gets_the_403_page(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    make_agent("aiko")
    page = tab.page
    sign_in(tab, live.url, "aiko", then="/")
    expect(page.locator("#app")).to_have_attribute("data-connection", "online")
    expect(page.locator("#reports-link")).to_have_count(0)

    tab.allow_console_errors(r"status of 403")
    response = page.goto(live.url + "/reports/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports are for team leads")
    expect(page.locator("svg")).to_have_count(0)


def test_an_agent_who_supervises_follows_the_inbox_s_link_to_the_reports(
    live,
    agents_group,
    tab,  # noqa: F811 - the fixture imported above
):
    make_supervisor("lead-agent", agent=True)
    page = tab.page
    sign_in(tab, live.url, "lead-agent", then="/")
    expect(page.locator("#app")).to_have_attribute("data-connection", "online")
    page.locator("#reports-link").click()
    expect(page).to_have_url(live.url + "/reports/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reports")
    expect(page.get_by_role("link", name="Inbox")).to_be_visible()


def test_the_reports_page_has_no_serious_accessibility_violation(
    live,
    month,
    localized_tab,  # noqa: F811 - the fixture imported above
):
    make_supervisor()
    opened = localized_tab
    sign_in(opened, live.url, "lead")
    page = opened.page
    page.goto(live.url + MONTH)
    assert page_language(opened) == expected_language(opened)
    expect(page.locator("figure.chart")).to_have_count(4)
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)
    opened.screenshot(f"a11y-reports-{page_language(opened)}")

    page.goto(live.url + "/reports/?from=2026-11-31&to=2026-11-30")
    expect(page.locator("#error-from")).to_be_visible()
    a11y.assert_accessible(page, also=ALWAYS_CHECKED)
