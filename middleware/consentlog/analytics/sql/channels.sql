-- Arrivals by channel over [start, end): human views that came from outside the site
-- (every channel but 'internal', ingest/channels.py), with or without consent. Rows
-- written before channels were (migration 7) have the channel ''.
-- Visitors and sessions count consented ones only.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    channel,
    count() AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    uniqExactIf(session_id, session_id != '') AS sessions,
    countIf(consent_state != 'granted') AS anonymous_views
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
  AND NOT consented_copy  -- its arrival is the anonymous row's
  AND channel != 'internal'
GROUP BY channel
ORDER BY views DESC, channel
