-- Human requests answered 404 or 5xx per time bucket of {interval_s} seconds over
-- [start, end): the counts of errors.sql per bucket (buckets without errors are left
-- out); one page when {path} != ''. The buckets are those of Grafana's
-- $__timeInterval(ts). Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the range (end exclusive)
--   {path:String}  one page, or '' for all
--   {interval_s:UInt32}  the bucket width in seconds
SELECT
    toStartOfInterval(toDateTime(ts), INTERVAL {interval_s:UInt32} SECOND) AS time,
    countIf(NOT is_bot AND status = 404) AS not_found,
    countIf(NOT is_bot AND status >= 500) AS server_errors
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND ({path:String} = '' OR path = {path:String})
  AND (status = 404 OR status >= 500)
GROUP BY time
ORDER BY time
