-- Views and visitors per time bucket of {interval_s} seconds over [start, end): the
-- expressions of trend.sql, per bucket instead of per day (buckets without requests are
-- left out), with the anonymous views beside them; one page when {path} != ''. The
-- buckets are those of Grafana's $__timeInterval(ts). Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the range (end exclusive)
--   {path:String}  one page, or '' for the whole site
--   {interval_s:UInt32}  the bucket width in seconds
SELECT
    toStartOfInterval(toDateTime(ts), INTERVAL {interval_s:UInt32} SECOND) AS time,
    countIf(NOT is_bot AND NOT consented_copy) AS views,  -- a copy was counted once
    uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors,
    countIf(NOT is_bot AND NOT consented_copy AND consent_state != 'granted') AS anonymous_views
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND ({path:String} = '' OR path = {path:String})
GROUP BY time
ORDER BY time
