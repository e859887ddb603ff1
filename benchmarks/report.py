"""Benchmark: the page-usefulness report over 10 M page requests, rollup vs raw rows.

ClickHouse itself generates the data (``INSERT … SELECT … FROM numbers(N)``): page
requests over 30 days on 300 paths with a skewed popularity, 60 % consented visitors in
sessions of 1–6 pages, bots and errors; engagement for 80 % of consented page views. The
rollup job then rolls the days up, and the report runs alternately from the rollup and
from the raw rows. Goal: rollup ≥ 10× faster, p50 < 300 ms.

    python -m benchmarks.report [--rows 10000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time

from consentlog.analytics.metrics import page_report
from consentlog.analytics.rollup import roll_up
from consentlog.store import open_store
from consentlog.store.schema import migrate

DAYS = 30
START = datetime.date(2026, 10, 1)

PAGES_SQL = """
INSERT INTO bench.page_requests
SELECT
    toDateTime64('{start}', 3, 'UTC') + toIntervalMillisecond(
        intDiv(number, 8) * {step_ms} + (number % 8) * 15000) AS ts,
    generateUUIDv4(number) AS pageview_id,
    'example.org' AS host,
    concat('/docs/page-', toString(toUInt32(pow(rand(1) / 4294967295, 2) * 300))) AS path,
    '/docs/{{slug}}' AS route, 'GET' AS method,
    multiIf(rand(2) % 100 < 2, 404, rand(2) % 1000 < 3, 500, 200) AS status,
    5120 AS response_bytes, 3.5 AS duration_ms,
    ['', 'www.google.com', 'news.ycombinator.com', 'duckduckgo.com'][rand(3) % 4 + 1],
    '' AS referrer_path, '' AS utm_source, '' AS utm_medium, '' AS utm_campaign,
    ['Chrome', 'Firefox', 'Safari'][rand(4) % 3 + 1] AS browser, 'Linux' AS os,
    'desktop' AS device,
    rand(5) % 100 < 4 AS is_bot, 'en' AS language,
    if(intDiv(number, 8) % 10 < 6, 'granted', 'unknown') AS consent_state,
    if(consent_state = 'granted', concat('v', toString(intDiv(number, 8) % 400000)), '')
        AS visitor_id,
    if(consent_state = 'granted' AND NOT is_bot, concat('s', toString(intDiv(number, 8))), '')
        AS session_id,
    if(consent_state = 'granted', '203.0.113.0/24', '') AS ip_prefix
FROM numbers({rows})
WHERE number % 8 < 1 + intDiv(number, 8) % 6
"""

ENGAGEMENT_SQL = """
INSERT INTO bench.engagements
SELECT ts + toIntervalSecond(5), pageview_id, visitor_id, session_id, host, path,
       toUInt32(rand(6) % 120000), toUInt8(rand(7) % 101),
       [NULL, NULL, NULL, true, false][rand(8) % 5 + 1]
FROM bench.page_requests
WHERE session_id != '' AND rand(9) % 10 < 8
"""


def timed(function: object, *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start


def main(rows: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"chdb://{tmp}/store")
        migrate(store, "bench")
        # ~8 slots per session of which 1-6 are kept: aim for `rows` kept rows
        slots = int(rows * 8 / 3.5)
        step_ms = int(DAYS * 86_400_000 / (slots / 8))
        started = time.perf_counter()
        store.command(PAGES_SQL.format(start=START, step_ms=step_ms, rows=slots))
        store.command(ENGAGEMENT_SQL)
        _, [(n, e)] = store.query(
            "SELECT (SELECT count() FROM bench.page_requests),"
            " (SELECT count() FROM bench.engagements)"
        )
        print(f"generated {n:,} page requests and {e:,} engagement rows in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        end = START + datetime.timedelta(days=DAYS - 1)
        later = datetime.datetime.combine(end + datetime.timedelta(days=2), datetime.time(),
                                          datetime.UTC)  # fmt: skip
        took = timed(roll_up, store, "bench", now=later)
        print(f"rollup of {DAYS} days: {took:.1f} s")
        assert page_report(store, "bench", START, end) == page_report(
            store, "bench", START, end, use_rollup=False
        ), "rollup and raw reports differ"
        rolled, raw = [], []
        for _ in range(runs):
            rolled.append(timed(page_report, store, "bench", START, end))
            raw.append(timed(page_report, store, "bench", START, end, use_rollup=False))
        p50_rolled, p50_raw = statistics.median(rolled), statistics.median(raw)
        print(f"report over {DAYS} days: rollup p50 {p50_rolled * 1000:.0f} ms, "
              f"raw p50 {p50_raw * 1000:.0f} ms, ratio {p50_raw / p50_rolled:.1f}×")  # fmt: skip
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    main(options.rows, options.runs)
