-- The hosts of the page requests over [start, end), most human views first: what the
-- dashboard's host picker offers when a site answers on more than one. Views as in
-- docs/metrics.md (human, not consented copies). Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  rows to return
SELECT host, countIf(NOT is_bot AND NOT consented_copy) AS views
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
GROUP BY host
ORDER BY views DESC, host
LIMIT {limit:UInt32}
