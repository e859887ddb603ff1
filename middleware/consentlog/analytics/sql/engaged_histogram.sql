-- Engaged time of one page's views over [start, end), in buckets; every bucket present.
-- A view's engaged time is the largest running total its beacon reported (max engaged_ms
-- per pageview_id), as in pages.sql; only human views of the page are counted, and only
-- those with an engagement row (analytics consent). Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  the page
WITH
    [0, 5000, 10000, 30000, 60000, 120000, 300000] AS bounds,  -- lower edges, ms
    page_views AS (
        SELECT pageview_id
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
          AND path = {path:String} AND NOT is_bot
    ),
    -- beacons of a view arrive after it: allow one day past the range, as pages.sql does
    engaged AS (
        SELECT pageview_id, max(engaged_ms) AS engaged_ms
        FROM {db:Identifier}.engagements
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)} + INTERVAL 1 DAY
          AND pageview_id IN (SELECT pageview_id FROM page_views)
        GROUP BY pageview_id
    ),
    counted AS (
        SELECT arrayCount(edge -> engaged_ms >= edge, bounds) AS bucket, count() AS views
        FROM engaged
        GROUP BY bucket
    ),
    buckets AS (
        SELECT arrayJoin(arrayEnumerate(bounds)) AS bucket
    )
SELECT
    bounds[b.bucket] AS from_ms,
    if(b.bucket < length(bounds), bounds[b.bucket + 1], NULL) AS to_ms,
    coalesce(c.views, 0) AS views
FROM buckets AS b
LEFT JOIN counted AS c ON c.bucket = b.bucket
ORDER BY b.bucket
SETTINGS join_use_nulls = 1
