-- Goals reached over [start, end): conversions by humans (no bots), with or without
-- consent, as server goals (a request answered as a rule names) or client goals (a
-- tracked link, form or custom event of a consented visitor). Visitors and sessions count
-- consented ones (a session is followed within one UTC day, as in page_daily.sql);
-- conversion_rate: the consented sessions of the range that reached the goal, over all.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
WITH (
    SELECT uniqExact(toDate(ts), session_id)
    FROM {db:Identifier}.page_requests
    WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
      AND ({host:String} = '' OR host = {host:String})
      AND NOT is_bot AND session_id != ''
) AS all_sessions
SELECT
    name,
    count() AS conversions,
    countIf(kind = 'server') AS server_conversions,
    countIf(kind = 'client') AS client_conversions,
    countIf(consent_state != 'granted') AS anonymous_conversions,
    uniqExactIf(visitor_id, visitor_id != '') AS visitors,
    uniqExactIf(toDate(ts), session_id, session_id != '') AS sessions,
    if(all_sessions > 0, sessions / all_sessions, NULL) AS conversion_rate
FROM {db:Identifier}.goals
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
GROUP BY name
ORDER BY conversions DESC, name
