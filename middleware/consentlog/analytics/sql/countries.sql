-- Human views by the visitor's country over [start, end): the ISO 3166-1 code the writer
-- derived from the full IP (or took from the CDN's header) for every request, consented
-- or not; '' when no database or header knew it. Visitors count consented ones only.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  one page, or '' for all   {limit:UInt32}  rows to return
SELECT
    country,
    count() AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    countIf(consent_state != 'granted') AS anonymous_views
FROM {db:Identifier}.page_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND ({path:String} = '' OR path = {path:String})
  AND NOT is_bot
  AND NOT consented_copy  -- its view is the anonymous row's
GROUP BY country
ORDER BY views DESC, country
LIMIT {limit:UInt32}
