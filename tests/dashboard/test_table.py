"""The Pages table: sorting with no-data cells last, the least-useful flag and its rule,
and the CSV export equal to the table."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentlog.analytics.metrics import PageMetrics
from consentlog.dashboard.table import least_useful
from tests.dashboard.support import RANGE


class _TableParser(HTMLParser):
    """The `data-column` headings and `data-value` cells of the Pages table."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.rows: list[list[str]] = []
        self.flagged: list[bool] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and "pages" in (found.get("class") or ""):
            self._in_body = False
        if tag == "tbody":
            self._in_body = True
        if tag == "th" and "data-column" in found:
            self.columns.append(found["data-column"] or "")
        if tag == "tr" and self._in_body:
            self.rows.append([])
            self.flagged.append(found.get("class") == "flagged")
        if tag in {"th", "td"} and self._in_body and "data-value" in found:
            self.rows[-1].append(found["data-value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False


def _table(html: str) -> _TableParser:
    parser = _TableParser()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("sort", ["", "&sort=usefulness&order=asc", "&sort=path",
                                  "&sort=median_engaged_ms&order=desc"])  # fmt: skip
def test_csv_equals_the_table(analyst: TestClient, sort: str) -> None:
    """/pages.csv holds the table's columns and rows, in the table's order."""
    table = _table(analyst.get(f"/pages?{RANGE}{sort}").text)
    response = analyst.get(f"/pages.csv?{RANGE}{sort}")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert table.columns == lines[0]
    assert table.rows == lines[1:]
    assert 7 == len(table.rows)


def test_table_sorts_by_any_column(analyst: TestClient) -> None:
    """Sorting puts values in order, with no-data cells last either way."""
    for column in ("views", "bounce_rate", "usefulness", "path"):
        for order in ("asc", "desc"):
            table = _table(analyst.get(f"/pages?{RANGE}&sort={column}&order={order}").text)
            index = table.columns.index(column)
            cells = [row[index] for row in table.rows]
            present = [c for c in cells if c != ""]
            assert cells == present + [""] * (len(cells) - len(present))
            values: list[Any] = present if column == "path" else [float(c) for c in present]
            assert sorted(values, reverse=order == "desc") == values


def test_least_useful_page_is_flagged(analyst: TestClient) -> None:
    """The page nobody reads has the lowest score and is flagged; "not enough data"
    is shown for pages without a score."""
    body = analyst.get(f"/pages?{RANGE}&sort=usefulness&order=asc").text
    table = _table(body)
    first = table.rows[0]
    assert "/blog/thin" == first[table.columns.index("path")]
    assert table.flagged[0]
    assert "true" == first[table.columns.index("least_useful")]
    assert "least useful" in body
    assert "not enough data" in body  # /old-page has no engagement
    overview = analyst.get(f"/?{RANGE}").text
    assert "/blog/thin" in overview.split("Least useful pages")[1]


def _metrics(path: str, usefulness: int | None) -> PageMetrics:
    return PageMetrics(
        "example.org", path, 100, 0, 10, 0, 5, 0.1, 0.2, 0.3, 20, 9000.0, 50.0, 0.4, 1, 1, 0, 0,
        0.05, usefulness,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scores", "flagged"),
    [
        ([16, 46, 46, 53, 53, 55], {"/0"}),  # one clearly worst page
        ([10, 12, 14, 80, 85], {"/0", "/1"}),  # two close to the worst, below the median
        ([50, 50, 50], set()),  # nothing stands out
        ([40, None], set()),  # one score is no comparison
        ([30, 90], {"/0"}),
    ],
)
def test_least_useful_rule(scores: list[int | None], flagged: set[str]) -> None:
    """Flagged: below the median score and within 10 points of the lowest."""
    pages = [_metrics(f"/{i}", score) for i, score in enumerate(scores)]
    assert flagged == {path for _, path in least_useful(pages)}
