"""What the runs of `make bench` come to: means, percentiles, ratios and the table rows.

Both phases summarise their runs here, webhook beside bare view, so the SQLite and
PostgreSQL rows of the report are computed and formatted alike. Pure: it runs
nothing and measures nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tests.devtools.bench_harness import FlatOutRun
from tests.devtools.loadgen import OpenLoopResult


@dataclass(frozen=True)
class TargetCheck:
    """One of the issues' targets: what it asks, what was measured, met or not."""

    name: str
    measured: str
    passed: bool


@dataclass(frozen=True)
class Figures:
    """One side of one mode, as the table shows it."""

    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int


def flat_figures(runs: Sequence[FlatOutRun]) -> Figures:
    """Means over the runs (wrk keeps its histogram to itself, so percentiles are averaged)."""
    return Figures(
        throughput=statistics.fmean(run.throughput for run in runs),
        p50_ms=statistics.fmean(run.p50_ms for run in runs),
        p99_ms=statistics.fmean(run.p99_ms for run in runs),
        max_ms=max(run.max_ms for run in runs),
        requests=sum(run.requests for run in runs),
        errors=sum(run.errors for run in runs),
    )


def open_figures(runs: Sequence[OpenLoopResult]) -> Figures:
    """Percentiles over all the runs' requests together."""
    merged = OpenLoopResult(rate=runs[0].rate, seconds=runs[0].seconds, scheduled=0)
    for run in runs:
        merged.latencies_ms.extend(run.latencies_ms)
    return Figures(
        throughput=statistics.fmean(run.achieved_rate for run in runs),
        p50_ms=merged.percentile(0.50),
        p99_ms=merged.percentile(0.99),
        max_ms=max((max(run.latencies_ms, default=math.nan) for run in runs), default=math.nan),
        requests=sum(run.scheduled for run in runs),
        errors=sum(run.errors for run in runs),
    )


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


@dataclass(frozen=True)
class Comparison:
    mode: str
    webhook: Figures
    bare: Figures

    @property
    def ratios(self) -> dict[str, float]:
        return {
            "throughput": ratio(self.webhook.throughput, self.bare.throughput),
            "p50": ratio(self.webhook.p50_ms, self.bare.p50_ms),
            "p99": ratio(self.webhook.p99_ms, self.bare.p99_ms),
        }


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def comparison_rows(comparisons: Sequence[Comparison]) -> list[list[str]]:
    rows = []
    for comparison in comparisons:
        for name, figures in (("webhook", comparison.webhook), ("bare", comparison.bare)):
            rows.append(
                [
                    comparison.mode,
                    name,
                    f"{fmt(figures.throughput)}/s",
                    fmt(figures.p50_ms),
                    fmt(figures.p99_ms),
                    fmt(figures.max_ms),
                    f"{figures.errors}/{figures.requests}",
                ]
            )
        r = comparison.ratios
        rows.append(
            [
                comparison.mode,
                "webhook/bare",
                f"{fmt(r['throughput'], 2)}x",
                f"{fmt(r['p50'], 2)}x",
                f"{fmt(r['p99'], 2)}x",
                "",
                "",
            ]
        )
    return rows


HEADERS = ["mode", "endpoint", "throughput", "p50 ms", "p99 ms", "max ms", "errors"]
