-- Now: the pages human visitors are on, from the page requests of [since, until) (the
-- last few minutes): views as in docs/metrics.md (consented copies are not views), and
-- visitors and sessions as distinct non-empty ids (consented only). One row per page,
-- most viewed first. Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {since:DateTime64(3)} {until:DateTime64(3)}  the window (until exclusive)
--   {limit:UInt32}  rows to return
SELECT
    host,
    path,
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    max(ts) AS last_seen
FROM {db:Identifier}.page_requests
WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
GROUP BY host, path
ORDER BY views DESC, visitors DESC, host, path
LIMIT {limit:UInt32}
