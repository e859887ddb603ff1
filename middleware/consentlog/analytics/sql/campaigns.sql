-- Tagged arrivals by campaign over [start, end): human views from outside the site that
-- carried a campaign tag (utm_*, ref) or an ad click id, by campaign, source and medium;
-- ad_clicks counts those with a click id (gclid, fbclid …: its name only is stored).
-- Visitors count consented ones only.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  rows to return
SELECT
    utm_campaign AS campaign,
    multiIf(utm_source != '', utm_source, ref) AS source,
    utm_medium AS medium,
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(NOT consented_copy AND click_id != '') AS ad_clicks,
    countIf(NOT consented_copy AND utm_term != '') AS with_term,
    countIf(NOT consented_copy AND utm_content != '') AS with_content
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
  AND channel NOT IN ('internal', '')
  AND (utm_source != '' OR utm_medium != '' OR utm_campaign != '' OR utm_term != ''
       OR utm_content != '' OR ref != '' OR click_id != '')
GROUP BY campaign, source, medium
HAVING views > 0
ORDER BY views DESC, campaign, source, medium
LIMIT {limit:UInt32}
