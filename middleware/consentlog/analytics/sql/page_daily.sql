-- One row per (day, host, path): the page metrics of docs/metrics.md as partial
-- aggregates that add up over days. The rollup job stores them in page_daily for complete
-- days; pages.sql computes them the same way, from the raw rows, for days not rolled up.
-- A session is followed within one UTC day (a session crossing midnight counts twice).
-- Parameters: {db:Identifier}, {first_day:Date}, {last_day:Date} (both included),
-- {host:String} (one host, or '' for all).
WITH
    requests AS (
        SELECT toDate(ts) AS day, host, path, pageview_id, session_id, visitor_id, ts, status,
               is_bot, consent_state, consented_copy
        FROM {db:Identifier}.page_requests
        WHERE ts >= toDateTime64({first_day:Date}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 1, 3, 'UTC')
          AND ({host:String} = '' OR host = {host:String})
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
               uniqCombined64IfState(12)(visitor_id, NOT is_bot AND visitor_id != '') AS visitors
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
        WHERE ts >= toDateTime64({first_day:Date}, 3, 'UTC')
          AND ts < toDateTime64({last_day:Date} + 2, 3, 'UTC')
        GROUP BY pageview_id
    ),
    -- the last goal each consented session of a day reached (goals.sql has them all)
    goal_reached AS (
        SELECT toDate(ts) AS day, session_id, max(ts) AS last_goal
        FROM {db:Identifier}.goals
        WHERE ts >= toDateTime64({first_day:Date}, 3, 'UTC')
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
               uniqExactIf(o.session_id, g.last_goal >= o.ts) AS goal_sessions
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
       s.votes_yes AS votes_yes, s.votes_no AS votes_no, s.goal_sessions AS goal_sessions
FROM counts AS c
LEFT JOIN sessions AS s ON s.day = c.day AND s.host = c.host AND s.path = c.path
