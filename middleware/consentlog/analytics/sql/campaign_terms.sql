-- The terms and contents of tagged arrivals over [start, end): utm_term (a paid search
-- keyword, usually) and utm_content (which link or ad of a campaign), by campaign; human
-- views from outside the site. Visitors count consented ones only.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  rows to return
SELECT
    utm_campaign AS campaign,
    utm_term AS term,
    utm_content AS content,
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
  AND channel NOT IN ('internal', '')
  AND (utm_term != '' OR utm_content != '')
GROUP BY campaign, term, content
HAVING views > 0
ORDER BY views DESC, campaign, term, content
LIMIT {limit:UInt32}
