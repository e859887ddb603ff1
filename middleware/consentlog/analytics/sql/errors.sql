-- Pages that answered 404 or 5xx over [start, end): one row per page and status, most
-- human requests first; one page when {path} != ''. Bot requests are counted apart.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  one page, or '' for all
SELECT
    host,
    path,
    status,
    countIf(NOT is_bot) AS views,
    countIf(is_bot) AS bot_views,
    max(ts) AS last_seen
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND ({path:String} = '' OR path = {path:String})
  AND (status = 404 OR status >= 500)
GROUP BY host, path, status
ORDER BY views DESC, bot_views DESC, host, path, status
