-- Where one page's human views came from over [start, end): the referrer host ('' when
-- the browser sent none: typed, bookmarked, or a referrer policy), most views first.
-- Referrer hosts are stored with or without consent; visitors count consented ones only.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  the page                {limit:UInt32}  rows to return
SELECT
    referrer_host,
    count() AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND path = {path:String} AND NOT is_bot
  AND NOT consented_copy  -- its view, and its referrer, are the anonymous row's
GROUP BY referrer_host
ORDER BY views DESC, referrer_host
LIMIT {limit:UInt32}
