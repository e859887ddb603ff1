-- The properties of custom events over [start, end): per goal, property and value, how
-- many human conversions carried it (consentlog.track(name, props); at most 10 a goal).
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  rows to return
SELECT name, property, value, count() AS conversions
FROM {db:Identifier}.goals
ARRAY JOIN mapKeys(props) AS property, mapValues(props) AS value
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot
GROUP BY name, property, value
ORDER BY conversions DESC, name, property, value
LIMIT {limit:UInt32}
