-- Views and visitors per day (UTC) over [start, end), every day present (zero when
-- quiet); one page when {path} != ''. Definitions as in docs/metrics.md: views are human
-- page requests, visitors distinct non-empty visitor ids of that day. Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  one page, or '' for the whole site
SELECT
    toDate(ts) AS day,
    countIf(NOT is_bot AND NOT consented_copy) AS views,  -- a copy was counted once
    uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND ({path:String} = '' OR path = {path:String})
GROUP BY day
ORDER BY day WITH FILL
    FROM toDate({start:DateTime64(3)}) TO toDate({end:DateTime64(3)}) STEP 1
