-- Whether pages_rolled.sql can answer for the range: every rolled-up row of it has gaps
-- (rolled up since migration 13) that look back at least to the range's first day.
-- Parameters: {db:Identifier}, {host:String} ('' for all), {rolled_first:Date},
-- {rolled_last:Date}.
SELECT min(visitor_lookback - (day - {rolled_first:Date})) >= 0 AND min(visitor_kept) > 0
           AS covered
FROM {db:Identifier}.page_daily
WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
  AND ({host:String} = '' OR host = {host:String})
