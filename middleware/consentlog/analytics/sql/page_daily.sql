-- One row per (day, host, path): the page metrics of docs/metrics.md as partial
-- aggregates that add up over days. The rollup job stores them in page_daily for complete
-- days; pages.sql computes them the same way, from the raw rows, for days not rolled up.
-- A session is followed within one UTC day (a session crossing midnight counts twice).
-- The columns are in page_daily's order; the last five (migration 11) are what pages.sql
-- reads for visitors and the median engaged time (docs/metrics.md "How the rollup counts
-- visitors"). page_daily_insert.sql keeps a day's hashes only up to 10,000.
-- The last three (migration 13) count a range's visitors from the rollup alone: each
-- visitor of a day by the days since their previous view of the page, looking back
-- {lookback} days, fewer where the raw rows begin later (pages.sql's raw days pass -1:
-- no gaps, nothing read for them).
-- Parameters: {db:Identifier}, {first_day:Date}, {last_day:Date} (both included),
-- {host:String} (one host, or '' for all), {lookback:Int16}.
WITH
    requests AS (
        SELECT toDate(ts) AS day, host, path, pageview_id, session_id, visitor_id, ts, status,
               is_bot, consent_state, consented_copy
        FROM {db:Identifier}.page_requests
        -- (a constant test first: an empty range, as pages.sql has when every day of the
        -- report is rolled up, reads nothing)
        WHERE {first_day:Date} <= {last_day:Date}
          AND ts >= toDateTime64({first_day:Date}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 1, 3, 'UTC')
          AND ({host:String} = '' OR host = {host:String})
    ),
    -- the first day of raw rows, and of the rollup: when the raw rows begin later, some
    -- have expired (or been erased), and no previous view is known before them
    earliest AS (
        SELECT toDate(min(ts)) FROM {db:Identifier}.page_requests WHERE {lookback:Int16} >= 0
    ),
    first_rolled AS (
        SELECT if(count() = 0, toDate('2149-06-06'), min(day)) FROM {db:Identifier}.page_daily
        WHERE {lookback:Int16} >= 0
    ),
    -- every (day, page, visitor) of the days and of the {lookback} days before them, for
    -- the visitors of the days
    seen AS (
        SELECT DISTINCT toDate(ts) AS day, host, path, sipHash64(visitor_id) AS hash
        FROM {db:Identifier}.page_requests
        WHERE {lookback:Int16} >= 0 AND {first_day:Date} <= {last_day:Date}
          AND ts >= toDateTime64({first_day:Date} - {lookback:Int16}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 1, 3, 'UTC')
          AND ({host:String} = '' OR host = {host:String})
          AND NOT is_bot AND visitor_id != ''
          -- (the test of {lookback} again: without it the set is built even when the
          -- outer test already selects nothing)
          AND (host, path, visitor_id) IN (
              SELECT host, path, visitor_id FROM requests
              WHERE {lookback:Int16} >= 0 AND NOT is_bot AND visitor_id != '')
    ),
    -- the days since each one's previous view of the page (0: none in the lookback)
    returns AS (
        SELECT day, host, path,
               if(previous = toDate(0) OR day - previous > {lookback:Int16}, 0,
                  day - previous) AS gap
        FROM (
            SELECT day, host, path,
                   lagInFrame(day, 1, toDate(0)) OVER (
                       PARTITION BY host, path, hash ORDER BY day
                       ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous
            FROM seen
        )
        WHERE day >= {first_day:Date}
    ),
    gaps AS (
        SELECT day, host, path,
               arraySort(groupArray((toUInt16(gap), toUInt64(visitors)))) AS pairs
        FROM (SELECT day, host, path, gap, count() AS visitors FROM returns
              GROUP BY day, host, path, gap)
        GROUP BY day, host, path
    ),
    counts AS (
        SELECT day, host, path,
               -- a consented copy (the page on which the visitor accepted, logged again
               -- with consent) was counted as an anonymous view: not again here
               countIf(NOT is_bot AND NOT consented_copy) AS views,
               countIf(is_bot AND NOT consented_copy) AS bot_views,
               countIf(NOT is_bot AND NOT consented_copy AND consent_state != 'granted')
                   AS anonymous_views,
               countIf(NOT is_bot AND NOT consented_copy AND status = 404) AS not_found,
               countIf(NOT is_bot AND NOT consented_copy AND status >= 500) AS server_errors,
               uniqCombined64IfState(12)(visitor_id, NOT is_bot AND visitor_id != '') AS visitors,
               -- the day's distinct consented visitors as 64-bit hashes, ascending
               arraySort(groupUniqArrayIf(sipHash64(visitor_id), NOT is_bot AND visitor_id != ''))
                   AS visitor_hashes
        FROM requests
        GROUP BY day, host, path
    ),
    -- consented human page views in session order
    ordered AS (
        SELECT day, host, path, pageview_id, session_id, ts,
               row_number() OVER (PARTITION BY session_id, day ORDER BY ts, pageview_id)
                   AS position,
               count() OVER (PARTITION BY session_id, day) AS session_views
        FROM requests
        WHERE NOT is_bot AND session_id != ''
    ),
    -- a page view's engagement: the beacon reports running totals, so the largest counts;
    -- the vote is the last one given. Beacons may arrive up to a day after the page view.
    engaged AS (
        SELECT pageview_id, 1 AS hit,
               max(engaged_ms) AS engaged_ms,
               max(scroll_pct) AS scroll_pct,
               argMaxIf(useful, ts, isNotNull(useful)) AS vote
        FROM {db:Identifier}.engagements
        WHERE {first_day:Date} <= {last_day:Date}
          AND ts >= toDateTime64({first_day:Date}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 2, 3, 'UTC')
        GROUP BY pageview_id
    ),
    -- the last goal each consented session of a day reached (goals.sql has them all)
    goal_reached AS (
        SELECT toDate(ts) AS day, session_id, max(ts) AS last_goal
        FROM {db:Identifier}.goals
        WHERE {first_day:Date} <= {last_day:Date}
          AND ts >= toDateTime64({first_day:Date}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 1, 3, 'UTC')
          AND session_id != '' AND NOT is_bot
        GROUP BY day, session_id
    ),
    sessions AS (
        SELECT o.day AS day, o.host AS host, o.path AS path,
               count() AS consented_views,
               uniqExact(o.session_id) AS sessions,
               countIf(o.position = 1) AS entries,
               countIf(o.position = 1 AND o.session_views = 1 AND e.engaged_ms < 10000)
                   AS bounces,
               countIf(o.position = o.session_views) AS exits,
               countIf(o.position < o.session_views) AS onward_views,
               countIf(e.hit = 1) AS engaged_views,
               -- median at 1 s resolution: the state holds one count per distinct second
               quantileExactWeightedIfState(0.5)(
                   toUInt32(intDiv(e.engaged_ms, 1000) * 1000), toUInt8(1), e.hit = 1
               ) AS engaged_ms,
               sumIf(e.scroll_pct, e.hit = 1) AS scroll_sum,
               countIf(e.hit = 1 AND e.scroll_pct >= 75) AS deep_reads,
               countIf(e.vote = true) AS votes_yes,
               countIf(e.vote = false) AS votes_no,
               -- sessions through the page that reached a goal then or later ("led to")
               uniqExactIf(o.session_id, g.last_goal >= o.ts) AS goal_sessions,
               -- engaged page views per whole second of engaged time: (seconds, counts)
               sumMapIf([toUInt32(intDiv(e.engaged_ms, 1000))], [toUInt64(1)], e.hit = 1)
                   AS engaged_map,
               arrayFilter(k -> k < 600, engaged_map.1) AS short_seconds,
               arrayFilter((n, k) -> k < 600, engaged_map.2, engaged_map.1) AS short_counts,
               -- engaged_hist[1 + s]: the engaged page views of s whole seconds, s < 600
               arrayFlatten(arrayMap(
                   (k, n, i) -> arrayPushBack(arrayResize(CAST([], 'Array(UInt64)'),
                       toUInt32(k - if(i = 1, -1, toInt64(short_seconds[i - 1])) - 1)), n),
                   short_seconds, short_counts, arrayEnumerate(short_seconds))) AS engaged_hist,
               -- engaged_long: the seconds of each longer one, ascending
               arrayFlatten(arrayMap((k, n) -> arrayResize([k], n, k),
                   arrayFilter(k -> k >= 600, engaged_map.1),
                   arrayFilter((n, k) -> k >= 600, engaged_map.2, engaged_map.1))) AS engaged_long
        FROM ordered AS o
        LEFT JOIN engaged AS e ON e.pageview_id = o.pageview_id
        LEFT JOIN goal_reached AS g ON g.session_id = o.session_id AND g.day = o.day
        GROUP BY o.day, o.host, o.path
    )
SELECT c.day AS day, c.host AS host, c.path AS path,
       c.views AS views, c.bot_views AS bot_views, c.anonymous_views AS anonymous_views,
       c.not_found AS not_found, c.server_errors AS server_errors, c.visitors AS visitors,
       s.consented_views AS consented_views, s.sessions AS sessions, s.entries AS entries,
       s.bounces AS bounces, s.exits AS exits, s.onward_views AS onward_views,
       s.engaged_views AS engaged_views, s.engaged_ms AS engaged_ms,
       s.scroll_sum AS scroll_sum, s.deep_reads AS deep_reads,
       s.votes_yes AS votes_yes, s.votes_no AS votes_no, s.goal_sessions AS goal_sessions,
       -- 2: over 10,000 visitors that day (page_daily_insert.sql then keeps the sample only)
       if(length(c.visitor_hashes) > 10000, 2, 1) AS visitor_kept,
       -- the hashes from 2^61 up, and those below (the sample: an eighth of the hash space)
       arrayFilter(h -> h >= 2305843009213693952, c.visitor_hashes) AS visitor_hashes,
       arrayFilter(h -> h < 2305843009213693952, c.visitor_hashes) AS visitor_sample,
       s.engaged_hist AS engaged_hist, s.engaged_long AS engaged_long,
       g.pairs.1 AS visitor_gaps, g.pairs.2 AS visitor_gap_counts,
       toInt16(multiIf({lookback:Int16} < 0, -1,
                       (SELECT * FROM earliest) <= (SELECT * FROM first_rolled), {lookback:Int16},
                       -- (the first raw day itself may be part expired)
                       greatest(0, least({lookback:Int16},
                                         c.day - (SELECT * FROM earliest) - 1))))
           AS visitor_lookback
FROM counts AS c
LEFT JOIN sessions AS s ON s.day = c.day AND s.host = c.host AND s.path = c.path
LEFT JOIN gaps AS g ON g.day = c.day AND g.host = c.host AND g.path = c.path
