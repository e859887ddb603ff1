-- Arrivals by channel over [start, end): human views that came from outside the site
-- (every channel but 'internal', ingest/channels.py), with or without consent; tagged:
-- those with a campaign tag, ad_clicks: with an ad click id. Rows written before channels
-- were (migration 7, channel '') are left out. Visitors and sessions count consented
-- ones, the page a visitor accepted on included (its consented copy has the arrival's
-- channel; its view is the anonymous row's).
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    channel,
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    uniqExactIf(session_id, session_id != '') AS sessions,
    countIf(NOT consented_copy AND consent_state != 'granted') AS anonymous_views,
    countIf(NOT consented_copy AND (utm_source != '' OR utm_medium != '' OR utm_campaign != ''
            OR utm_term != '' OR utm_content != '' OR ref != '' OR click_id != '')) AS tagged,
    countIf(NOT consented_copy AND click_id != '') AS ad_clicks
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
  AND channel NOT IN ('internal', '')
GROUP BY channel
HAVING views > 0
ORDER BY views DESC, channel
