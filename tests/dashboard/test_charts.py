"""The dashboard's charts: round axis steps, and figures that are accessible and escape
their labels."""

from __future__ import annotations

from consentlog.dashboard.charts import Series, figure, nice_scale


def test_axis_steps_are_round_whole_numbers() -> None:
    """The y axis covers the largest value in round, whole-number steps."""
    assert (4.0, 1.0) == nice_scale(0)
    assert (8, 2) == nice_scale(7)
    assert (30, 10) == nice_scale(26)
    assert (1500, 500) == nice_scale(1079)


def test_chart_is_accessible_and_escaped() -> None:
    """A figure has a titled SVG per width, a legend, its numbers, and escapes labels."""
    html = figure(
        "line",
        chart_id="t",
        title="Views <per> day",
        description="d",
        label_name="Day",
        labels=[f"<d{i}>" for i in range(30)],
        series=[Series("Views", tuple(range(30))), Series("Visitors", tuple(range(30)))],
    )
    assert 2 == html.count('role="img"')
    assert "Views &lt;per&gt; day" in html
    assert "<d0>" not in html
    assert 'class="legend"' in html
    assert 30 == html.count('<th scope="row">')
    assert ">&lt;d29&gt;</text>" in html  # the latest label is always drawn
