-- Arrivals by source over [start, end): the campaign's utm_source, else its ref, else
-- the referrer host ('' = none: direct), with the channel it arrived by; human views from
-- outside the site, with or without consent (rows before migration 7 left out). Visitors
-- count consented ones, the page a visitor accepted on included (see channels.sql).
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  rows to return
SELECT
    multiIf(utm_source != '', utm_source, ref != '', ref, referrer_host) AS source,
    channel,
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(NOT consented_copy AND consent_state != 'granted') AS anonymous_views
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
  AND channel NOT IN ('internal', '')
GROUP BY source, channel
HAVING views > 0
ORDER BY views DESC, source, channel
LIMIT {limit:UInt32}
