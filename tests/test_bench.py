"""`make bench`'s own parts that run without a server: how wrk's output is read, how the
figures print, and that the entry point, run as `python -m`, reports a failure of the
PostgreSQL phase as the bench's failure.

The bench itself is measured, not tested: `make bench` runs it (docs/benchmarks.md).
"""

import json
import math
import runpy
import signal
import sys
from collections import Counter

import pytest

from tests.devtools import bench_scale
from tests.devtools.bench_figures import Comparison, Figures, comparison_rows, fmt, ratio
from tests.devtools.bench_harness import BenchError, parse_wrk


def test_wrk_figures_are_read_from_the_scripts_json_line():
    figures = {
        "requests": 2000,
        "duration_us": 10_000_000,
        "p50_us": 4100.0,
        "p90_us": 7000.0,
        "p99_us": 12500.0,
        "max_us": 30000.0,
        "non2xx": 2,
        "first_non2xx": 503,
        "connect": 0,
        "read": 1,
        "write": 0,
        "timeout": 1,
    }
    output = "Running 10s test @ http://127.0.0.1:1/\n\nBENCH_JSON " + json.dumps(figures)

    run = parse_wrk("webhook", output)

    assert (run.throughput, run.p50_ms, run.p99_ms, run.max_ms) == (200.0, 4.1, 12.5, 30.0)
    assert (run.non2xx, run.first_non2xx, run.socket_errors, run.errors) == (2, 503, 2, 4)


def test_wrk_output_without_the_json_line_fails_the_bench():
    with pytest.raises(BenchError, match="no BENCH_JSON line"):
        parse_wrk("bare", "unable to connect to 127.0.0.1:1 Connection refused")


def test_each_comparison_prints_webhook_bare_and_their_ratio():
    webhook = Figures(throughput=150.0, p50_ms=6.0, p99_ms=20.0, max_ms=40.0, requests=3, errors=0)
    bare = Figures(throughput=300.0, p50_ms=3.0, p99_ms=10.0, max_ms=15.0, requests=6, errors=1)

    rows = comparison_rows([Comparison("flat out", webhook, bare)])

    assert rows == [
        ["flat out", "webhook", "150.0/s", "6.0", "20.0", "40.0", "0/3"],
        ["flat out", "bare", "300.0/s", "3.0", "10.0", "15.0", "1/6"],
        ["flat out", "webhook/bare", "0.50x", "2.00x", "2.00x", "", ""],
    ]


def test_a_figure_that_could_not_be_measured_prints_as_n_a():
    assert math.isnan(ratio(1.0, 0.0))
    assert fmt(ratio(1.0, 0.0)) == "n/a"
    assert fmt(2.345, 2) == "2.35"


def test_run_as_a_script_the_bench_reports_a_failed_postgres_phase(monkeypatch, capsys):
    """`python -m` runs bench.py as __main__; the phase's BenchError must still be caught."""

    def missing_servers():
        raise BenchError("PostgreSQL's server is not installed.")

    monkeypatch.setattr(bench_scale, "require_servers", missing_servers)
    monkeypatch.setattr(sys, "argv", ["python -m tests.devtools.bench", "--quick"])
    sigterm = signal.getsignal(signal.SIGTERM)  # the bench turns SIGTERM into SystemExit
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_module("tests.devtools.bench", run_name="__main__")
    finally:
        signal.signal(signal.SIGTERM, sigterm)

    assert exit_.value.code == 1
    assert "bench failed: PostgreSQL's server is not installed." in capsys.readouterr().err


def reports_timing(**changes):
    from tests.devtools.bench_reports import ReportsTiming

    figures = {
        "conversations_in_month": 100_000,
        "facts_in_month": 750_000,
        "conversations_total": 140_000,
        "facts_total": 1_050_000,
        "seed_seconds": 120.0,
        "month_summary_ms": [900.0, 700.0, 800.0, 1200.0, 750.0],
        "day_summary_ms": [40.0, 50.0, 60.0, 45.0, 55.0],
        "choices_ms": [5.0] * 5,
        "export_rows": 100_000,
        "export_seconds": 8.0,
        "summary_queries": 10,
        "slowest_query_ms": 300.0,
        "slowest_query": "SELECT 1",
        "reference_ms": 4000.0,
        "matches_reference": True,
        "explain": "Result",
    }
    return ReportsTiming(**(figures | changes))


def test_the_reports_target_is_the_page_median_with_the_one_day_ratio_beside_it():
    from tests.devtools.bench_reports import details, summary, target_check

    check = target_check(reports_timing())

    assert check.passed
    assert "median 805 ms, slowest 1205 ms (16.0x the same summary over one day)" in (
        check.measured
    )
    assert details(reports_timing())[-1].endswith("100,000 rows in 8.0 s (12,500 rows/s)")
    assert json.dumps(summary(reports_timing()))


def test_reports_figures_that_differ_from_the_reference_miss_the_target():
    from tests.devtools.bench_reports import target_check

    check = target_check(reports_timing(matches_reference=False))

    assert not check.passed
    assert "differ" in check.measured


def test_the_live_phase_reads_a_customer_message_frame_and_nothing_else():
    from tests.devtools.bench_live import SEQ, customer_number

    def frame(author_kind: str, text: str, **dumps) -> str:
        message = {"id": 3, "author_kind": author_kind, "text": text}
        return json.dumps({"type": "message.created", "seq": 41, "message": message}, **dumps)

    assert customer_number(frame("customer", "live-bench-12- I need a person")) == 12
    compact = frame("customer", "live-bench-7- hi", separators=(",", ":"))
    assert customer_number(compact) == 7
    assert customer_number(frame("system", "live-bench-12- quoted in a hand-over")) is None
    updated = json.dumps({"type": "conversation.updated", "seq": 42, "event": None})
    assert customer_number(updated) is None
    assert SEQ.search(updated).group(1) == "42"


def test_the_live_phase_counts_late_deliveries_over_each_threshold():
    from tests.devtools.bench_live import LiveRun

    run = LiveRun(
        agents=2,
        rate=1.0,
        seconds=2.0,
        sent=2,
        webhook_errors=0,
        latencies_ms=[10.0, 900.0, 1500.0, 6000.0],
        due_s=[0.0, 0.0, 1.0, 1.0],
        missing=0,
        never_shown=0,
        out_of_order=0,
        frames=3,
        kinds=Counter({"message.created": 4, "conversation.updated": 2}),
        sockets_open=2,
    )
    summary = run.summary()
    assert (summary["late_over_1000_ms"], summary["late_over_5000_ms"]) == (2, 1)
    assert summary["p50_ms"] == 900.0
    assert "later than 1 s 2, than 5 s 1 of 4 deliveries" in run.line()
    # Three frames brought six events to two sockets for two messages.
    assert summary["frames_per_message"] == 0.75
    assert "events message.created 1.0, conversation.updated 0.5" in run.line()
    assert run.minutes is None  # under two minutes: no first and last minute


def test_a_long_live_run_compares_its_last_minute_with_its_first():
    from tests.devtools.bench_live import LiveRun

    run = LiveRun(
        agents=1,
        rate=1.0,
        seconds=180.0,
        sent=180,
        webhook_errors=0,
        latencies_ms=[10.0] * 60 + [50.0] * 60 + [400.0] * 60,
        due_s=[float(n) for n in range(180)],
        missing=0,
        never_shown=0,
        out_of_order=0,
        frames=180,
        kinds=Counter({"message.created": 180}),
        sockets_open=1,
    )
    assert run.minutes == (10.0, 400.0)
    assert "p99 10 ms in the first minute, 400 ms in the last" in run.line()
