-- Scroll depth of one page's views over [start, end), in quarter buckets plus "reached
-- the end" (100 %); every bucket present. A view's depth is the largest scroll_pct its
-- beacon reported; only human views of the page with an engagement row are counted.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  the page
WITH
    [0, 25, 50, 75, 100] AS bounds,  -- lower edges, percent; 75+ is a deep read
    page_views AS (
        SELECT pageview_id
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
          AND path = {path:String} AND NOT is_bot
    ),
    scrolled AS (
        SELECT pageview_id, max(scroll_pct) AS scroll_pct
        FROM {db:Identifier}.engagements
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)} + INTERVAL 1 DAY
          AND pageview_id IN (SELECT pageview_id FROM page_views)
        GROUP BY pageview_id
    ),
    counted AS (
        SELECT arrayCount(edge -> scroll_pct >= edge, bounds) AS bucket, count() AS views
        FROM scrolled
        GROUP BY bucket
    ),
    buckets AS (
        SELECT arrayJoin(arrayEnumerate(bounds)) AS bucket
    )
SELECT
    bounds[b.bucket] AS from_pct,
    if(b.bucket < length(bounds), bounds[b.bucket + 1], NULL) AS to_pct,
    coalesce(c.views, 0) AS views
FROM buckets AS b
LEFT JOIN counted AS c ON c.bucket = b.bucket
ORDER BY b.bucket
SETTINGS join_use_nulls = 1
