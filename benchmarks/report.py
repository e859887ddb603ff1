"""Benchmark: the page-usefulness report over 10 M page requests, rollup vs raw rows.

ClickHouse itself generates the data (``INSERT … SELECT … FROM numbers(N)``): page
requests over 30 days on 300 paths with a skewed popularity, 60 % consented visitors in
sessions of 1–6 pages, bots and errors, every column of the latest schema (country,
campaign tags and channel, consented copies of 2 % of sessions' first pages); engagement
for 80 % of consented page views; goals in about 3 % of sessions. The rollup job then rolls
the days up, and the report runs alternately from the rollup and from the raw rows. Goal:
p50 < 100 ms at 10 M rows, < 500 ms at 100 M.

    python -m benchmarks.report [--rows 10000000] [--runs 7] [--visitors 400000] [--store DIR]

``--store DIR`` keeps the generated store (a later run on it skips generating and rolls up
only what is missing or stale, e.g. after a migration).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import statistics
import tempfile
import time

from consentlog.analytics import queries
from consentlog.analytics.metrics import MIN_SAMPLE, PageMetrics, day_ranges, page_report
from consentlog.analytics.rollup import roll_up
from consentlog.store import Store, open_store
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
    ['', 'www.google.com', 'news.ycombinator.com', 'duckduckgo.com'][rand(3) % 4 + 1]
        AS referrer_host,
    '' AS referrer_path,
    if(rand(10) % 20 = 0, 'newsletter', '') AS utm_source,
    if(utm_source != '', 'email', '') AS utm_medium,
    if(utm_source != '', 'december', '') AS utm_campaign,
    ['Chrome', 'Firefox', 'Safari'][rand(4) % 3 + 1] AS browser, 'Linux' AS os,
    'desktop' AS device,
    rand(5) % 100 < 4 AS is_bot, 'en' AS language,
    if(intDiv(number, 8) % 10 < 6, 'granted', 'unknown') AS consent_state,
    if(consent_state = 'granted', concat('v', toString(intDiv(number, 8) % {visitors})), '')
        AS visitor_id,
    if(consent_state = 'granted' AND NOT is_bot, concat('s', toString(intDiv(number, 8))), '')
        AS session_id,
    if(consent_state = 'granted', '203.0.113.0/24', '') AS ip_prefix,
    -- the page accepted on, logged again with consent: the first page of 2 % of sessions
    session_id != '' AND number % 8 = 0 AND intDiv(number, 8) % 50 = 0 AS consented_copy,
    ['DE', 'FR', 'US', 'GB', 'NL', ''][rand(11) % 6 + 1] AS country,
    if(utm_source != '' AND rand(12) % 2 = 0, 'privacy', '') AS utm_term,
    if(utm_source != '' AND rand(13) % 2 = 0, 'banner', '') AS utm_content,
    if(rand(14) % 100 = 0, 'partner', '') AS ref,
    if(rand(15) % 200 = 0, 'gclid', '') AS click_id,
    multiIf(utm_medium = 'email', 'Email', click_id != '', 'Paid Search',
            ref != '', 'Referral', referrer_host = '', 'Direct',
            referrer_host = 'news.ycombinator.com', 'Referral', 'Organic Search') AS channel,
    if(is_bot, ['agent', 'list', 'headers'][rand(16) % 3 + 1], '') AS bot_signal
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

# a goal on one page view of 10 % of the consented sessions, and on 1 % of anonymous views
GOALS_SQL = """
INSERT INTO bench.goals
SELECT ts + toIntervalSecond(1), ['signup', 'download'][rand(16) % 2 + 1], 'server', host,
       path, toString(pageview_id), 'POST', 200, consent_state, visitor_id, session_id,
       browser, is_bot, map('plan', ['free', 'pro'][rand(17) % 2 + 1])
FROM bench.page_requests
WHERE (session_id != '' AND cityHash64(session_id) % 10 = 0 AND rand(18) % 3 = 0)
   OR (session_id = '' AND rand(19) % 100 = 0)
"""


def timed(function: object, *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start


def generate(store: Store, rows: int, visitors: int) -> None:
    """About ``rows`` page requests over ``DAYS`` days, their engagement and goals."""
    # ~8 slots per session of which 1-6 are kept: aim for `rows` kept rows
    slots = int(rows * 8 / 3.5)
    step_ms = int(DAYS * 86_400_000 / (slots / 8))
    started = time.perf_counter()
    store.command(PAGES_SQL.format(start=START, step_ms=step_ms, rows=slots, visitors=visitors))
    store.command(ENGAGEMENT_SQL)
    store.command(GOALS_SQL)
    print(f"generated in {time.perf_counter() - started:.1f} s")


EXACT_VISITORS = """
SELECT host, path, uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '')
FROM bench.page_requests
WHERE ts >= toDateTime64({first:Date}, 3, 'UTC') AND ts < toDateTime64({last:Date} + 1, 3, 'UTC')
GROUP BY host, path
"""


def check(store: Store, end: datetime.date, *, with_raw: bool) -> None:
    """The rollup's visitors are the raw rows' distinct ids, page by page, and (``with_raw``:
    a raw report, minutes at 100 M rows) the rest of its report is the raw rows' (whose
    visitors are estimated above 10,000)."""
    rolled = page_report(store, "bench", START, end)
    if with_raw:
        raw = page_report(store, "bench", START, end, use_rollup=False)
        blind = [dataclasses.replace(m, visitors=0) for m in rolled]
        assert blind == [dataclasses.replace(m, visitors=0) for m in raw], "reports differ"
    _, rows = store.query(EXACT_VISITORS, {"first": START, "last": end})
    exact = {(host, path): count for host, path, count in rows}
    assert exact == {(m.host, m.path): m.visitors for m in rolled}, "visitors inexact"


def main(rows: int, runs: int, raw_runs: int, visitors: int, keep: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"chdb://{keep or tmp + '/store'}")
        migrate(store, "bench")
        _, [(n,)] = store.query("SELECT count() FROM bench.page_requests")
        if not n:
            generate(store, rows, visitors)
        _, [(n, e, g)] = store.query(
            "SELECT (SELECT count() FROM bench.page_requests),"
            " (SELECT count() FROM bench.engagements), (SELECT count() FROM bench.goals)"
        )
        print(f"{n:,} page requests, {e:,} engagement rows, {g:,} goals")
        end = START + datetime.timedelta(days=DAYS - 1)
        later = datetime.datetime.combine(end + datetime.timedelta(days=2), datetime.time(),
                                          datetime.UTC)  # fmt: skip
        took = timed(roll_up, store, "bench", now=later)
        print(f"rollup of {DAYS} days: {took:.1f} s")
        _, [(parts, stored)] = store.query(
            "SELECT count(), sum(bytes_on_disk) FROM system.parts"
            " WHERE database = 'bench' AND table = 'page_daily' AND active"
        )
        print(f"page_daily: {parts} parts, {stored / 1e6:.1f} MB on disk")
        check(store, end, with_raw=raw_runs > 0)
        rolled: list[float] = []
        today: list[float] = []
        raw: list[float] = []
        # the last day read from the raw rows, as a range that ends today is (pages.sql,
        # the path page_report takes when the watermark is the day before)
        with_today = {**day_ranges(START, end, end - datetime.timedelta(days=1)), "lookback": -1}
        for run in range(runs):
            rolled.append(timed(page_report, store, "bench", START, end))
            today.append(timed(queries.run, store, "pages", PageMetrics, "bench", host="",
                               min_sample=MIN_SAMPLE, **with_today))  # fmt: skip
            if run < raw_runs:
                raw.append(timed(page_report, store, "bench", START, end, use_rollup=False))
        p50_rolled = statistics.median(rolled)
        print(f"report over {DAYS} days: rollup p50 {p50_rolled * 1000:.0f} ms "
              f"(runs {', '.join(f'{t * 1000:.0f}' for t in rolled)})")  # fmt: skip
        print(f"the same with its last day read raw (a range ending today): p50 "
              f"{statistics.median(today) * 1000:.0f} ms")  # fmt: skip
        if raw:  # --raw-runs 0: the rollup alone (and no comparison with raw)
            p50_raw = statistics.median(raw)
            print(f"raw p50 {p50_raw * 1000:.0f} ms, ratio {p50_raw / p50_rolled:.1f}×")
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--raw-runs", type=int, help="runs from the raw rows (default: --runs)")
    parser.add_argument("--visitors", type=int, default=400_000, help="distinct visitor ids")
    parser.add_argument(
        "--store", help="keep the store in this directory (reused when it holds data)"
    )
    options = parser.parse_args()
    raw_runs = options.runs if options.raw_runs is None else options.raw_runs
    main(options.rows, options.runs, raw_runs, options.visitors, options.store)
