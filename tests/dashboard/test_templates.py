"""The dashboard's templates: every value is escaped, markup goes in only as ``Markup``,
and a name the template needs but was not given is an error, not an empty string."""

from __future__ import annotations

import datetime

import jinja2
import pytest
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.dashboard import templates
from consentlog.dashboard.filters import Filters
from consentlog.dashboard.queries import DetailData
from consentlog.dashboard.views import Views

TAG = "<script>alert(1)</script>"


class NoRequests:
    """Reports without a single request: every page path is unknown."""

    def detail(self, filters: Filters, path: str) -> DetailData:
        return DetailData(filters, path, None, [], [], [], [], [], [])

    def hosts(self, filters: Filters) -> list[str]:
        return ["example.org", TAG]  # a Host header is what a client sent


def test_a_page_path_with_a_tag_is_text_in_the_detail_page() -> None:
    """A page path holding `<script>` is shown escaped in the title, heading and range form;
    so is a host name in the host picker."""
    views = Views(NoRequests())  # type: ignore[arg-type]  # the one report the route reads
    client = TestClient(Starlette(routes=[Route("/pages/detail", views.detail)]))
    response = client.get("/pages/detail", params={"path": "/" + TAG})
    assert 200 == response.status_code
    assert TAG not in response.text
    escaped = "/&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<title>Page {escaped} · consentlog analytics</title>" in response.text
    assert f'<h1>Page <code class="path">{escaped}</code></h1>' in response.text
    assert f'<input type="hidden" name="path" value="{escaped}">' in response.text
    assert f'<option value="{escaped[1:]}">{escaped[1:]}</option>' in response.text


def test_markup_is_placed_only_when_it_is_markup() -> None:
    """The same SVG text is escaped as a string and placed as it is as ``Markup``."""
    svg = '<svg class="chart"></svg>'

    def figure(drawing: str) -> str:
        return templates.render(
            "figure.html",
            title="t",
            drawings=[("wide", drawing)],
            series=[],
            colours=[],
            label_name="Day",
            labels=[],
        )

    as_text, as_markup = figure(svg), figure(Markup(svg))
    assert '<div class="chart-wide">&lt;svg class=&#34;chart&#34;&gt;&lt;/svg&gt;</div>' in as_text
    assert f'<div class="chart-wide">{svg}</div>' in as_markup


def test_a_missing_name_is_an_error() -> None:
    """Rendering a template without a value it shows raises instead of leaving a gap."""
    with pytest.raises(jinja2.UndefinedError, match="status"):
        templates.render("error.html", base="", message="m")


def test_numbers_read_as_people_read_them() -> None:
    """Counts get separators, shares a percentage, durations their unit, moments minutes."""
    assert "1,234,567" == templates.number(1234567, "count")
    assert ["4.5%", "45%", "0%"] == [templates.number(v, "rate") for v in (0.045, 0.45, 0)]
    assert ["4.2 s", "38 s", "2 min 5 s", "2 min"] == [
        templates.number(ms, "duration") for ms in (4200, 38_000, 125_000, 120_000)
    ]
    assert "61%" == templates.number(61.4, "scroll")
    assert "/docs" == templates.number("/docs", "text")
    assert "2026-11-20 08:05" == templates.when(datetime.datetime(2026, 11, 20, 8, 5, 59))
