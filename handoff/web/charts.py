"""The reports page's charts: SVG drawn on the server from the numbers it is given, each
followed by a `<table>` of the same numbers.

Why our own: the page's Content-Security-Policy allows no inline style and no script
from elsewhere, a chart library would bring both (or a canvas a screen reader cannot
read), and a table made from the same values cannot disagree with its chart
(docs/research/reports-and-metrics.md, section 4).

Pure functions of their arguments. Every text is escaped (`format_html`); no `style`
attribute is ever written: geometry is SVG attributes, colours are classes that
static/reports/reports.css styles. Each chart is a `<figure>` whose SVG has
`role="img"` and an accessible name, a `<title>` per mark, and its table beside it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

Number = int | float | None
Format = Callable[[Number], str]

WIDTH = 720
COLUMN_HEIGHT = 220
# Room for the axis labels around the plot.
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 28
BAR_ROW = 26
BAR_LABEL = 170
CELL, CELL_GAP = 24, 2
HEAT_LEFT, HEAT_TOP = 44, 18
HEAT_LEVELS = 5
# At most this many day labels under a column chart; the table names every day.
MAX_X_LABELS = 12


@dataclass(frozen=True)
class Series:
    """One set of values drawn in one colour: `css` is a class in reports.css."""

    name: str
    values: Sequence[Number]
    css: str


def plain(value: Number) -> str:
    """How a count is shown when the caller gives no format: empty for nothing."""
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _top(series: Sequence[Series]) -> float:
    """The axis maximum: the largest value, at least 1 so an empty chart still draws."""
    return max([v for s in series for v in s.values if v is not None] + [1])


def _figure(kind: str, caption: str, svg: SafeString, table: SafeString) -> SafeString:
    return format_html(
        '<figure class="chart chart-{}"><figcaption>{}</figcaption>{}{}</figure>',
        kind,
        caption,
        svg,
        table,
    )


def _svg(caption: str, width: int, height: int, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="chart-svg" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'width="{}" height="{}" preserveAspectRatio="xMinYMin meet">{}</svg>',
        caption,
        width,
        height,
        width,
        height,
        body,
    )


def _legend(series: Sequence[Series]) -> SafeString:
    return format_html(
        '<ul class="chart-legend" aria-hidden="true">{}</ul>',
        format_html_join(
            "", '<li><span class="swatch {}"></span>{}</li>', ((s.css, s.name) for s in series)
        ),
    )


def table(
    *,
    caption: str,
    corner: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Format = plain,
) -> SafeString:
    """The chart's numbers: one row per category, one column per series, with the
    same values formatted as the chart's titles show them."""
    head = format_html_join("", '<th scope="col">{}</th>', ((s.name,) for s in series))
    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        (
            (
                category,
                format_html_join("", "<td>{}</td>", ((fmt(s.values[i]),) for s in series)),
            )
            for i, category in enumerate(categories)
        ),
    )
    return format_html(
        '<div class="table-scroll" role="region" aria-label="{}" tabindex="0">'
        '<table class="chart-data"><caption>{}</caption>'
        '<thead><tr><th scope="col">{}</th>{}</tr></thead><tbody>{}</tbody></table></div>',
        caption,
        caption,
        corner,
        head,
        rows,
    )


def columns(
    *,
    caption: str,
    categories: Sequence[str],
    series: Sequence[Series],
    corner: str = "",
    fmt: Format = plain,
) -> SafeString:
    """Vertical bars per category (a day), the series side by side: counts over time."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = COLUMN_HEIGHT - TOP - BOTTOM
    top = _top(series)
    slot = plot_width / max(len(categories), 1)
    bar = max(slot * 0.8 / max(len(series), 1), 1)
    step = max(1, -(-len(categories) // MAX_X_LABELS))
    marks = []
    for i, category in enumerate(categories):
        for j, one in enumerate(series):
            value = one.values[i]
            height = 0 if value is None else plot_height * value / top
            marks.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}, {}: {}</title></rect>",
                    one.css,
                    f"{LEFT + i * slot + slot * 0.1 + j * bar:.1f}",
                    f"{TOP + plot_height - height:.1f}",
                    f"{bar:.1f}",
                    f"{height:.1f}",
                    category,
                    one.name,
                    fmt(value),
                )
            )
        if i % step == 0:
            marks.append(
                format_html(
                    '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{LEFT + i * slot + slot / 2:.1f}",
                    COLUMN_HEIGHT - 8,
                    category,
                )
            )
    axis = format_html(
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text>'
        '<text class="axis-label" x="{}" y="{}" text-anchor="end">0</text>',
        LEFT,
        TOP + plot_height,
        WIDTH - RIGHT,
        TOP + plot_height,
        LEFT - 6,
        TOP + 10,
        fmt(top),
        LEFT - 6,
        TOP + plot_height,
    )
    body = format_html("{}{}", axis, mark_safe("".join(marks)))  # noqa: S308 - each mark escaped
    return _figure(
        "columns",
        caption,
        format_html("{}{}", _legend(series), _svg(caption, WIDTH, COLUMN_HEIGHT, body)),
        table(caption=caption, corner=corner, categories=categories, series=series, fmt=fmt),
    )


def bars(
    *,
    caption: str,
    categories: Sequence[str],
    series: Sequence[Series],
    corner: str = "",
    fmt: Format = plain,
) -> SafeString:
    """Horizontal bars, one row per category (a reason, a clock), the series stacked
    one under the other within it: amounts to compare side by side."""
    per_row = BAR_ROW * max(len(series), 1) + 8
    height = TOP + per_row * max(len(categories), 1) + 4
    plot_width = WIDTH - BAR_LABEL - RIGHT - 90
    top = _top(series)
    marks = []
    for i, category in enumerate(categories):
        row_top = TOP + i * per_row
        marks.append(
            format_html(
                '<text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text>',
                BAR_LABEL - 8,
                row_top + BAR_ROW / 2 + 4,
                category,
            )
        )
        for j, one in enumerate(series):
            value = one.values[i]
            length = 0 if value is None else plot_width * value / top
            y = row_top + j * BAR_ROW
            marks.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}, {}: {}</title></rect>"
                    '<text class="value-label" x="{}" y="{}">{}</text>',
                    one.css,
                    BAR_LABEL,
                    y + 2,
                    f"{length:.1f}",
                    BAR_ROW - 6,
                    category,
                    one.name,
                    fmt(value),
                    f"{BAR_LABEL + length + 6:.1f}",
                    y + BAR_ROW / 2 + 3,
                    fmt(value),
                )
            )
    body = mark_safe("".join(marks))  # noqa: S308 - each mark escaped by format_html
    return _figure(
        "bars",
        caption,
        format_html("{}{}", _legend(series), _svg(caption, WIDTH, int(height), body)),
        table(caption=caption, corner=corner, categories=categories, series=series, fmt=fmt),
    )


def heat_level(value: int, top: int) -> int:
    """Which of the HEAT_LEVELS shades a cell takes: 0 only for none at all."""
    if value <= 0 or top <= 0:
        return 0
    return max(1, min(HEAT_LEVELS - 1, -(-value * (HEAT_LEVELS - 1) // top)))


def heatmap(
    *,
    caption: str,
    rows: Sequence[str],
    columns: Sequence[str],
    grid: Sequence[Sequence[int]],
    corner: str = "",
) -> SafeString:
    """A grid of counts (weekday by hour) in one hue, darker for more, each cell's
    number in its `<title>` and in the table, so colour never carries it alone."""
    top = max([value for row in grid for value in row] + [0])
    width = HEAT_LEFT + len(columns) * (CELL + CELL_GAP)
    height = HEAT_TOP + len(rows) * (CELL + CELL_GAP)
    marks = [
        format_html(
            '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            HEAT_LEFT + c * (CELL + CELL_GAP) + CELL / 2,
            HEAT_TOP - 6,
            name,
        )
        for c, name in enumerate(columns)
        if c % 3 == 0
    ]
    for r, row_name in enumerate(rows):
        y = HEAT_TOP + r * (CELL + CELL_GAP)
        marks.append(
            format_html(
                '<text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text>',
                HEAT_LEFT - 6,
                y + CELL / 2 + 4,
                row_name,
            )
        )
        for c, column_name in enumerate(columns):
            value = grid[r][c]
            marks.append(
                format_html(
                    '<rect class="cell heat-{}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{} {}: {}</title></rect>",
                    heat_level(value, top),
                    HEAT_LEFT + c * (CELL + CELL_GAP),
                    y,
                    CELL,
                    CELL,
                    row_name,
                    column_name,
                    value,
                )
            )
    body = mark_safe("".join(marks))  # noqa: S308 - each mark escaped by format_html
    by_column = [
        Series(name=name, values=[grid[r][c] for r in range(len(rows))], css="")
        for c, name in enumerate(columns)
    ]
    return _figure(
        "heatmap",
        caption,
        _svg(caption, width, height, body),
        table(caption=caption, corner=corner, categories=rows, series=by_column),
    )
