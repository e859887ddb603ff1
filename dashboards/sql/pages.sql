-- Page usefulness: one row per page (host, path) over [start, end).
-- Every metric is defined in docs/metrics.md. Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {min_sample:UInt32}  engaged page views needed before a usefulness score is given
WITH
    requests AS (
        SELECT host, path, pageview_id, session_id, visitor_id, ts, status, is_bot,
               consent_state
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
    ),
    counts AS (
        SELECT host, path,
               countIf(NOT is_bot) AS views,
               countIf(is_bot) AS bot_views,
               countIf(NOT is_bot AND consent_state != 'granted') AS anonymous_views,
               uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors,
               countIf(NOT is_bot AND status = 404) AS not_found,
               countIf(NOT is_bot AND status >= 500) AS server_errors
        FROM requests
        GROUP BY host, path
    ),
    -- consented human page views in session order
    ordered AS (
        SELECT host, path, pageview_id, session_id,
               row_number() OVER (PARTITION BY session_id ORDER BY ts, pageview_id) AS position,
               count() OVER (PARTITION BY session_id) AS session_views
        FROM requests
        WHERE NOT is_bot AND session_id != ''
    ),
    -- one page view's engagement: the beacon reports running totals, so take the largest;
    -- the vote is the last one given
    engaged AS (
        SELECT pageview_id,
               max(engaged_ms) AS engaged_ms,
               max(scroll_pct) AS scroll_pct,
               argMaxIf(useful, ts, isNotNull(useful)) AS vote
        FROM {db:Identifier}.engagements
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)} + INTERVAL 1 DAY
        GROUP BY pageview_id
    ),
    sessions AS (
        SELECT o.host AS host, o.path AS path,
               count() AS consented_views,
               uniqExact(o.session_id) AS sessions,
               countIf(o.position = 1) AS entries,
               countIf(o.position = 1 AND o.session_views = 1
                       AND coalesce(e.engaged_ms, 0) < 10000) AS bounces,
               countIf(o.position = o.session_views) AS exits,
               countIf(o.position < o.session_views) AS onward_views,
               countIf(isNotNull(e.engaged_ms)) AS engaged_views,
               quantileExact(0.5)(e.engaged_ms) AS median_engaged_ms,
               avg(e.scroll_pct) AS avg_scroll_pct,
               countIf(e.scroll_pct >= 75) AS deep_reads,
               countIf(e.vote = true) AS votes_yes,
               countIf(e.vote = false) AS votes_no
        FROM ordered AS o
        LEFT JOIN engaged AS e ON e.pageview_id = o.pageview_id
        GROUP BY o.host, o.path
    ),
    metrics AS (
        SELECT c.host AS host, c.path AS path, c.views AS views, c.bot_views AS bot_views,
               c.visitors AS visitors, c.anonymous_views AS anonymous_views,
               coalesce(s.entries, 0) AS entries,
               if(s.entries > 0, s.bounces / s.entries, NULL) AS bounce_rate,
               if(s.sessions > 0, s.exits / s.sessions, NULL) AS exit_rate,
               if(s.consented_views > 0, s.onward_views / s.consented_views, NULL)
                   AS click_through_rate,
               coalesce(s.engaged_views, 0) AS engaged_views,
               if(s.engaged_views > 0, s.median_engaged_ms, NULL) AS median_engaged_ms,
               if(s.engaged_views > 0, s.avg_scroll_pct, NULL) AS avg_scroll_pct,
               if(s.engaged_views > 0, s.deep_reads / s.engaged_views, NULL) AS deep_read_rate,
               coalesce(s.votes_yes, 0) AS votes_yes,
               coalesce(s.votes_no, 0) AS votes_no,
               c.not_found AS not_found, c.server_errors AS server_errors
        FROM counts AS c
        LEFT JOIN sessions AS s ON s.host = c.host AND s.path = c.path
    )
SELECT *,
       -- usefulness 0-100: weighted mean of the components that exist (docs/metrics.md)
       if(engaged_views < {min_sample:UInt32}, NULL, toUInt8(round(100 *
           (0.35 * least(median_engaged_ms / 30000, 1)
            + 0.25 * deep_read_rate
            + 0.20 * coalesce(1 - bounce_rate, 0)
            + 0.20 * if(votes_yes + votes_no > 0, (votes_yes + 1) / (votes_yes + votes_no + 2), 0))
           / (0.60 + if(isNotNull(bounce_rate), 0.20, 0) + if(votes_yes + votes_no > 0, 0.20, 0))
       ))) AS usefulness
FROM metrics
ORDER BY views DESC, host, path
SETTINGS join_use_nulls = 1
