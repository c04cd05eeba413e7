"""`make bench`'s reports phase: the reports page's queries over a month of 100,000
conversations on PostgreSQL, against the issue's target of under 1 s.

On a throwaway PostgreSQL (`tests.devtools.throwaway`, removed afterwards) migrated
as the app migrates, a child process (this module with `--inside`, so the bench
itself never configures Django) bulk-creates the month measured and a smaller month
either side of it (`tests.support.report_seed.seed_month`, every conversation handed
over with the volume of docs/research/reports-and-metrics.md §2.5: about 0.7 million
facts in the month), runs ANALYZE as autovacuum would, and then, after one warm-up,
five times in turn:

* `summary()` over one day, the baseline: the same queries over little data, so the
  month's time is also given as a ratio that survives a busy machine;
* `summary()` over the month, and the page's filter lists (`filter_choices()`): what
  /reports/ asks the database for, the time the target is written in.

Then the slowest query of one more month's summary with its EXPLAIN (ANALYZE, BUFFERS),
which `--explain` prints and the JSON always holds; the summary as first written
(`tests.support.report_reference`, every fact read into Python), timed once and
compared figure for figure; and the CSV export of the month, page by page as the view
reads it (rows a second).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.devtools import throwaway
from tests.devtools.bench_figures import TargetCheck
from tests.devtools.bench_harness import ROOT, BenchError, Subprocesses, server_env

CONVERSATIONS = 100_000
AROUND = 20_000  # in the month before and the month after
NEXT_RESPONSES = 3  # per conversation: ~300k next-response facts, research's upper bound
ZONE = "Asia/Tokyo"
MONTH = (date(2026, 11, 1), date(2026, 11, 30))
BASELINE_DAY = date(2026, 11, 15)
RUNS = 5
TARGET_SECONDS = 1.0
AGENTS, TEAMS, TOPICS = 12, 4, ("billing", "delivery", "returns", "account", "other")
RESULT_MARK = "BENCH-REPORTS-RESULT "
RESULTS_PATH = ROOT / "bench-results" / "reports.json"


@dataclass(frozen=True)
class ReportsTiming:
    """What the child measured; times in ms, one entry per run."""

    conversations_in_month: int
    facts_in_month: int
    conversations_total: int
    facts_total: int
    seed_seconds: float
    month_summary_ms: list[float]
    day_summary_ms: list[float]
    choices_ms: list[float]
    export_rows: int
    export_seconds: float
    summary_queries: int
    slowest_query_ms: float
    slowest_query: str
    reference_ms: float
    matches_reference: bool
    explain: str = field(repr=False)

    @property
    def page_ms(self) -> list[float]:
        """Per run, what /reports/ waits for: the summary and the three filter lists."""
        return [s + c for s, c in zip(self.month_summary_ms, self.choices_ms, strict=True)]

    @property
    def ratio(self) -> float:
        """The month's summary over the one day's (medians): the cost of the volume."""
        day = statistics.median(self.day_summary_ms)
        return statistics.median(self.month_summary_ms) / day if day else math.nan

    @property
    def export_rows_per_second(self) -> float:
        return self.export_rows / self.export_seconds if self.export_seconds else math.nan


# -- the parent: a throwaway PostgreSQL, migrated, and the child -------------------------


def reports_phase(children: Subprocesses, *, explain: bool = False) -> ReportsTiming:
    print(
        f"PostgreSQL: the reports page over a month of {CONVERSATIONS:,} conversations ...",
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="handoff-bench-reports-"))
    folder.chmod(0o755)
    try:
        with ExitStack() as stack:
            try:
                database_url = stack.enter_context(throwaway.postgres(folder))
            except (throwaway.MissingServer, RuntimeError, OSError) as error:
                raise BenchError(f"could not start PostgreSQL: {error}") from error
            env = server_env(database_url, "http://127.0.0.1:9") | {"PYTHONUNBUFFERED": "1"}
            manage = [sys.executable, "manage.py"]
            children.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, timeout=300)
            command = [sys.executable, "-m", "tests.devtools.bench_reports", "--inside"]
            output = children.run(command, env=env, timeout=3600)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    found = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if not found:
        raise BenchError(f"the reports measurement printed no result:\n{output[-3000:]}")
    timing = ReportsTiming(**json.loads(found[-1].removeprefix(RESULT_MARK)))
    if explain:
        print(f"Slowest query of the month's summary ({timing.slowest_query_ms:.1f} ms):")
        print(timing.slowest_query)
        print(timing.explain)
    return timing


# -- the child: seed, ANALYZE, time ------------------------------------------------------


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _seed() -> tuple[float, int, int]:
    """The month measured and a smaller month either side; (seconds, conversations,
    facts) in the whole database."""
    from zoneinfo import ZoneInfo

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from handoff.models import Conversation, ReportFact, Team, TopicRoute
    from tests.support.report_seed import Varied, seed_month

    started = time.perf_counter()
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-agent-{n}") for n in range(AGENTS)]
    )
    Group.objects.get(name="Agents").user_set.add(*users)
    teams = Team.objects.bulk_create([Team(name=f"Team {n}") for n in range(TEAMS)])
    TopicRoute.objects.bulk_create([TopicRoute(topic=topic) for topic in TOPICS])
    varied = Varied(
        agent_ids=[user.pk for user in users],
        team_ids=[team.pk for team in teams],
        topics=TOPICS,
        next_per_conversation=NEXT_RESPONSES,
        spread=True,
    )
    zone = ZoneInfo(ZONE)
    first, last = MONTH
    month_start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    month_end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    before = month_start - timedelta(days=31)
    for start, end, count in (
        (before, month_start, AROUND),
        (month_start, month_end, CONVERSATIONS),
        (month_end, month_end + timedelta(days=31), AROUND),
    ):
        seed_month(
            count,
            start=start,
            step=(end - start) / count,
            handover_every=1,
            varied=varied,
            batch=5000,
        )
        print(f"  seeded {count:,} conversations from {start:%Y-%m-%d}", flush=True)
    return (
        time.perf_counter() - started,
        Conversation.objects.count(),
        ReportFact.objects.count(),
    )


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


class _QueryLog:
    """Every query run inside the block, with its time (django's execute_wrapper)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str, Any]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - started) * 1000, sql, params))


def _export(report) -> int:
    """The month's CSV as the view writes it, into nothing; returns the rows."""
    from handoff.rules.report_stats import safe_cell
    from handoff.selectors import report_export

    class Sink:
        def write(self, line: str) -> int:
            return len(line)

    writer = csv.writer(Sink())
    writer.writerow(report_export.EXPORT_COLUMNS)
    rows, after = 0, None
    while True:
        lines, after = report_export.export_page(report, after)
        for line in lines:
            writer.writerow([safe_cell(cell) for cell in line])
        rows += len(lines)
        if after is None:
            return rows


def measure_inside() -> dict[str, Any]:
    import django

    django.setup()
    from zoneinfo import ZoneInfo

    from django.db import connection, transaction

    from handoff.models import ReportFact
    from handoff.rules.report_stats import LocalRange
    from handoff.selectors import reports
    from tests.support import report_reference

    seed_seconds, conversations_total, facts_total = _seed()
    _analyze()
    zone = ZoneInfo(ZONE)
    month = reports.ReportFilter(LocalRange(*MONTH, zone))
    day = reports.ReportFilter(LocalRange(BASELINE_DAY, BASELINE_DAY, zone))
    now = month.span.end + timedelta(days=40)
    reports.summary(day, now=now)  # warm-up: the first run reads the tables from disk
    reports.summary(month, now=now)
    reports.filter_choices()
    month_ms, day_ms, choices_ms = [], [], []
    for run in range(RUNS):
        day_ms.append(_timed(lambda: reports.summary(day, now=now)))
        month_ms.append(_timed(lambda: reports.summary(month, now=now)))
        choices_ms.append(_timed(reports.filter_choices))
        print(
            f"  run {run + 1}: month {month_ms[-1]:.0f} ms, one day {day_ms[-1]:.0f} ms, "
            f"filter lists {choices_ms[-1]:.1f} ms",
            flush=True,
        )
    log = _QueryLog()
    # In a transaction the summary's two halves run in turn on this one connection
    # (selectors/side_by_side.py), so that every query is logged and timed alone.
    with connection.execute_wrapper(log), transaction.atomic():
        figures = reports.summary(month, now=now)
    slowest_ms, slowest_sql, slowest_params = max(log.queries, key=lambda query: query[0])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest_sql, slowest_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    started = time.perf_counter()
    reference = report_reference.summary(month, now=now)
    reference_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    export_rows = _export(month)
    export_seconds = time.perf_counter() - started
    return {
        "conversations_in_month": figures["conversations"]["total"],
        "facts_in_month": ReportFact.objects.filter(
            ended_at__gte=month.span.start, ended_at__lt=month.span.end
        ).count(),
        "conversations_total": conversations_total,
        "facts_total": facts_total,
        "seed_seconds": seed_seconds,
        "month_summary_ms": month_ms,
        "day_summary_ms": day_ms,
        "choices_ms": choices_ms,
        "export_rows": export_rows,
        "export_seconds": export_seconds,
        "summary_queries": len(log.queries),
        "slowest_query_ms": slowest_ms,
        "slowest_query": f"{slowest_sql}\n-- parameters: {slowest_params!r}",
        "reference_ms": reference_ms,
        "matches_reference": figures == reference,
        "explain": plan,
    }


# -- report ------------------------------------------------------------------------------


def target_check(timing: ReportsTiming) -> TargetCheck:
    page = timing.page_ms
    return TargetCheck(
        f"reports page (summary and filter lists) under {TARGET_SECONDS * 1000:g} ms for a "
        f"month of {timing.conversations_in_month:,} conversations on PostgreSQL",
        f"median {statistics.median(page):.0f} ms, slowest {max(page):.0f} ms "
        f"({timing.ratio:.1f}x the same summary over one day)"
        + ("" if timing.matches_reference else "; figures differ from the reference"),
        statistics.median(page) < TARGET_SECONDS * 1000 and timing.matches_reference,
    )


def details(timing: ReportsTiming) -> list[str]:
    month, day = timing.month_summary_ms, timing.day_summary_ms
    return [
        f"Reports on PostgreSQL: {timing.conversations_in_month:,} conversations and "
        f"{timing.facts_in_month:,} facts in the month ({timing.conversations_total:,} and "
        f"{timing.facts_total:,} in the database, seeded in {timing.seed_seconds:.0f} s); "
        f"{RUNS} runs each after a warm-up",
        f"Reports summary, month: median {statistics.median(month):.0f} ms, slowest "
        f"{max(month):.0f} ms; one day (baseline): median {statistics.median(day):.0f} ms, "
        f"slowest {max(day):.0f} ms; month/day {timing.ratio:.1f}x; filter lists median "
        f"{statistics.median(timing.choices_ms):.1f} ms; {timing.summary_queries} queries a "
        f"summary, the slowest {timing.slowest_query_ms:.0f} ms",
        f"Reports summary read into Python as first written (tests/support/report_reference.py,"
        f" once): {timing.reference_ms:.0f} ms; the figures "
        + ("are identical" if timing.matches_reference else "DIFFER (!!)"),
        f"Reports CSV export of the month: {timing.export_rows:,} rows in "
        f"{timing.export_seconds:.1f} s ({timing.export_rows_per_second:,.0f} rows/s)",
    ]


def summary(timing: ReportsTiming) -> dict[str, Any]:
    """For the bench's JSON results."""
    page = timing.page_ms
    return asdict(timing) | {
        "page_ms": page,
        "page_median_ms": statistics.median(page),
        "page_slowest_ms": max(page),
        "month_summary_median_ms": statistics.median(timing.month_summary_ms),
        "day_summary_median_ms": statistics.median(timing.day_summary_ms),
        "month_over_day": timing.ratio,
        "export_rows_per_second": timing.export_rows_per_second,
        "target_ms": TARGET_SECONDS * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.devtools.bench_reports",
        description="Time the reports page over a month of 100,000 conversations on "
        "throwaway PostgreSQL.",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print the slowest query's EXPLAIN ANALYZE"
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        print(RESULT_MARK + json.dumps(measure_inside()), flush=True)
        return 0
    children = Subprocesses()
    load = [round(value, 2) for value in os.getloadavg()]
    try:
        throwaway.postgres_bin_dir()
        timing = reports_phase(children, explain=args.explain)
    except (BenchError, throwaway.MissingServer) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
    print()
    print(f"{os.cpu_count()} cores, load average at the start {load}")
    for line in details(timing):
        print(line)
    check = target_check(timing)
    print(f"  [{'PASS' if check.passed else 'MISS'}] {check.name}: {check.measured}")
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {"cpu_count": os.cpu_count(), "load_average": load},
        "reports": summary(timing),
        "target": asdict(check),
    }
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nFigures written to {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
