-- Now, site-wide: human views, consented visitors and sessions, anonymous views, of the
-- page requests of [since, until) (the last few minutes), as in now.sql. Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {since:DateTime64(3)} {until:DateTime64(3)}  the window (until exclusive)
SELECT
    countIf(NOT consented_copy) AS views,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    uniqExactIf(session_id, session_id != '') AS sessions,
    countIf(NOT consented_copy AND consent_state != 'granted') AS anonymous_views
FROM {db:Identifier}.page_requests
WHERE ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
