"""The console's server-rendered SVG charts and its formatting of times and counts (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tidings.console import charts, formatting

NOW = datetime(2031, 3, 4, 10, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (-3, 1), (0.3, 0.5), (1, 1), (1.2, 2), (3, 5), (7, 10), (43.5, 50), (101, 200)],
)
def test_the_axis_top_is_a_round_number(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)


def test_minute_keys_are_the_last_minutes_oldest_first() -> None:
    keys = charts.minute_keys(NOW, 3)
    assert keys == ["2031-03-04 10:28", "2031-03-04 10:29", "2031-03-04 10:30"]


def test_percentile_by_nearest_rank() -> None:
    assert charts.percentile([], 50) is None
    assert charts.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert charts.percentile([float(n) for n in range(1, 101)], 95) == 95.0
    assert charts.percentile([5.0], 99) == 5.0


def heights(svg: str) -> list[float]:
    return [float(h) for h in re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"', svg)]


def test_a_bar_chart_has_one_bar_per_value_scaled_to_the_top() -> None:
    svg = str(charts.bar_chart([0, 5, 10], title="Events", labels=["a", "b", "c"]))
    assert svg.startswith('<svg class="chart"')
    assert 'role="img"' in svg
    assert "<title>Events</title>" in svg
    h = heights(svg)
    assert len(h) == 3
    assert h[0] == 0
    assert h[2] == pytest.approx(2 * h[1])
    assert h[2] == pytest.approx(charts.HEIGHT - charts.TOP - charts.BOTTOM)
    assert "<title>c: 10</title>" in svg
    assert ">10</text>" in svg  # the axis top


def test_a_bar_chart_of_nothing_draws_empty_bars_on_a_unit_axis() -> None:
    svg = str(charts.bar_chart([0] * 60, title="Quiet", labels=[str(n) for n in range(60)]))
    assert heights(svg) == [0.0] * 60
    assert ">1</text>" in svg


def test_labels_and_titles_are_escaped() -> None:
    svg = str(charts.bar_chart([1], title="<b>&", labels=["<script>"]))
    assert "<script>" not in svg
    assert "<b>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;b&gt;&amp;" in svg


def test_a_line_breaks_where_data_is_missing() -> None:
    series = charts.Series("p50", [0.1, 0.2, None, 0.4, 0.5, None, 0.7])
    svg = str(charts.line_chart([series], title="Latency", labels=list("abcdefg"), unit="s"))
    lines = re.findall(r'<polyline class="line "', svg)
    assert len(lines) == 2  # a single point (0.7) is a dot, not a line
    assert svg.count("<circle") == 5
    assert "<title>a p50: 100 ms</title>" in svg
    assert ">1.0 s</text>" in svg  # the axis top: 0.7 s rounds up to 1 s


def test_relative_times_read_naturally() -> None:
    ago = [formatting.relative(NOW - timedelta(seconds=s), NOW) for s in (2, 42, 190, 7300)]
    assert ago == ["just now", "42 s ago", "3 min ago", "2 h ago"]
    assert formatting.relative(NOW - timedelta(days=5), NOW) == "5 d ago"
    assert formatting.relative(NOW + timedelta(minutes=4), NOW) == "in 4 min"


def test_a_time_element_carries_the_exact_utc_time() -> None:
    html = str(formatting.when("2031-03-04T10:27:15Z", NOW))
    assert html == (
        '<time datetime="2031-03-04T10:27:15Z" title="2031-03-04 10:27:15 UTC">3 min ago</time>'
    )
    assert "never" in str(formatting.when(None, NOW))


def test_durations_and_percentages() -> None:
    assert [formatting.duration(s) for s in (0.42, 12, 185, 7800)] == [
        "0.4 s",
        "12 s",
        "3 min 5 s",
        "2 h 10 min",
    ]
    assert formatting.duration(None) == ""
    assert formatting.between("2031-03-04T10:30:00Z", None, NOW) == "15 s"
    assert [formatting.percent(d, t) for d, t in ((0, 10), (5, 10), (10, 10), (0, 0))] == [
        0,
        50,
        100,
        100,
    ]
