"""The reports page's SVG charts (handoff/web/charts.py) and how its figures are written
(handoff/web/report_format.py): the marks drawn, escaping of every label, no style
attribute (the page's policy refuses inline styles), and a table holding the numbers
the chart draws.
"""

from html.parser import HTMLParser

import pytest

from handoff.web import charts
from handoff.web.report_format import duration, percent

HOSTILE = '<script>alert("x")</script> "&'


class Tree(HTMLParser):
    """The elements of a chart's markup: (tag, attributes) in order, and the text of
    every <title>, <th> and <td>, unescaped as a browser would read it."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: dict[str, list[str]] = {"title": [], "th": [], "td": [], "text": []}
        self.rows: list[list[str]] = []
        self._open: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._open.append(tag)
        if tag in self.texts:
            self.texts[tag].append("")
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td") and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open and self._open[-1] in self.texts:
            self.texts[self._open[-1]][-1] += data
        if self._open and self._open[-1] in ("th", "td") and self.rows:
            self.rows[-1][-1] += data

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.elements if tag == name]


def daily(label: str = "Conversations"):
    return charts.columns(
        caption="Per day",
        corner="Day",
        categories=["2026-11-01", "2026-11-02", "2026-11-03"],
        series=[
            charts.Series(label, [4, 0, 8], "series-1"),
            charts.Series("Handed over", [1, 0, 2], "series-2"),
        ],
    )


def test_a_column_chart_draws_one_bar_per_day_and_series_scaled_to_the_largest():
    tree = Tree(str(daily()))

    bars = [attrs for attrs in tree.tags("rect") if "bar" in attrs["class"].split()]
    assert len(bars) == 6
    heights = [float(bar["height"]) for bar in bars]
    tallest = max(heights)
    assert heights == pytest.approx(
        [tallest / 2, tallest / 8, 0, 0, tallest, tallest / 4], abs=0.06
    )
    assert [bar["class"] for bar in bars[:2]] == ["bar series-1", "bar series-2"]


def test_every_chart_has_an_accessible_name_and_its_table_holds_the_same_numbers():
    tree = Tree(str(daily()))

    [svg] = tree.tags("svg")
    assert svg["role"] == "img"
    assert svg["aria-label"] == "Per day"
    assert tree.tags("figcaption") is not None
    assert tree.rows == [
        ["Day", "Conversations", "Handed over"],
        ["2026-11-01", "4", "1"],
        ["2026-11-02", "0", "0"],
        ["2026-11-03", "8", "2"],
    ]
    # Each bar's title says its day, series and number, as the table does.
    assert tree.texts["title"][0] == "2026-11-01, Conversations: 4"
    assert "2026-11-03, Handed over: 2" in tree.texts["title"]
    assert all(th.get("scope") in ("col", "row") for th in tree.tags("th"))


def test_a_horizontal_bar_chart_formats_bars_titles_and_cells_alike():
    markup = str(
        charts.bars(
            caption="Response times",
            corner="Clock",
            categories=["First response", "Resolution"],
            series=[
                charts.Series("Median", [95, 7800], "series-1"),
                charts.Series("90th percentile", [600, None], "series-3"),
            ],
            fmt=duration,
        )
    )
    tree = Tree(markup)

    bars = [attrs for attrs in tree.tags("rect") if "bar" in attrs["class"].split()]
    assert [float(bar["width"]) for bar in bars][3] == 0  # nothing measured: no bar
    assert max(float(bar["width"]) for bar in bars) == float(bars[2]["width"])
    assert tree.rows[1:] == [
        ["First response", "1 min 35 s", "10 min"],
        ["Resolution", "2 h 10 min", "–"],
    ]
    assert "First response, Median: 1 min 35 s" in tree.texts["title"]


def test_the_heatmap_has_a_cell_per_weekday_and_hour_with_its_number_in_title_and_table():
    grid = [[0] * 24 for _ in range(7)]
    grid[0][9] = 4
    grid[6][23] = 1
    rows = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    markup = str(
        charts.heatmap(
            caption="Hand-overs by hour",
            corner="Weekday",
            rows=rows,
            columns=[f"{hour:02d}" for hour in range(24)],
            grid=grid,
        )
    )
    tree = Tree(markup)

    cells = [attrs for attrs in tree.tags("rect") if "cell" in attrs["class"].split()]
    assert len(cells) == 7 * 24
    assert cells[9]["class"] == "cell heat-4"
    assert cells[6 * 24 + 23]["class"] == "cell heat-1"
    assert cells[0]["class"] == "cell heat-0"
    assert "Mon 09: 4" in tree.texts["title"]
    assert len(tree.rows) == 8 and len(tree.rows[0]) == 25
    assert tree.rows[1][10] == "4" and tree.rows[7][24] == "1"
    assert [[int(cell) for cell in row[1:]] for row in tree.rows[1:]] == grid


@pytest.mark.parametrize("value, top, level", [(0, 9, 0), (1, 9, 1), (5, 9, 3), (9, 9, 4)])
def test_a_heat_level_is_zero_only_for_nothing(value, top, level):
    assert charts.heat_level(value, top) == level


@pytest.mark.parametrize(
    "chart",
    [
        lambda: daily(HOSTILE),
        lambda: charts.bars(
            caption=HOSTILE,
            corner=HOSTILE,
            categories=[HOSTILE],
            series=[charts.Series(HOSTILE, [3], "series-1")],
        ),
        lambda: charts.heatmap(
            caption=HOSTILE, corner=HOSTILE, rows=[HOSTILE], columns=[HOSTILE], grid=[[2]]
        ),
    ],
    ids=["columns", "bars", "heatmap"],
)
def test_a_hostile_label_is_text_everywhere_and_no_style_attribute_is_written(chart):
    markup = str(chart())
    tree = Tree(markup)

    assert "<script" not in markup
    assert 'alert("x")' not in markup  # the quotes are escaped too
    assert "&lt;script&gt;" in markup and "&quot;&amp;" in markup
    assert not [tag for tag, attrs in tree.elements if "style" in attrs]
    assert "style=" not in markup
    # Read back as a browser would, the label is intact.
    assert any(HOSTILE in text for text in tree.texts["title"] + tree.texts["th"])


def test_an_empty_chart_still_draws_without_dividing_by_zero():
    markup = str(
        charts.columns(
            caption="Per day",
            categories=["2026-11-01"],
            series=[charts.Series("Conversations", [0], "series-1")],
        )
    )
    assert Tree(markup).rows[1] == ["2026-11-01", "0"]


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (None, "–"),
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (95, "1 min 35 s"),
        (3600, "1 h"),
        (7800, "2 h 10 min"),
        (7859, "2 h 10 min"),
        (86400, "1 d"),
        (90000, "1 d 1 h"),
    ],
)
def test_durations_are_written_in_their_two_largest_units(seconds, shown):
    assert duration(seconds) == shown


@pytest.mark.parametrize("share, shown", [(None, "–"), (0.3333, "33.3%"), (1.0, "100.0%")])
def test_rates_are_percentages_with_one_decimal(share, shown):
    assert percent(share) == shown
