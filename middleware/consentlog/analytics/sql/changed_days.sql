-- Rolled-up days since {since} whose raw rows no longer add up to their rollup: late
-- rows replayed from a spool, or an erasure. A day's rollup counts every request of the
-- day (views + bot_views: consented copies are not views, see page_daily.sql); the
-- rollup job rebuilds each day returned. Parameters:
--   {db:Identifier}  database            {since:Date}  the first day compared
SELECT r.day FROM (
    SELECT day, sum(views) + sum(bot_views) AS rolled FROM {db:Identifier}.page_daily
    WHERE day >= {since:Date} GROUP BY day
) AS r
LEFT JOIN (
    SELECT toDate(ts) AS day, countIf(NOT consented_copy) AS raw
    FROM {db:Identifier}.page_requests
    WHERE ts >= toDateTime64({since:Date}, 3, 'UTC') GROUP BY day
) AS p ON p.day = r.day
WHERE r.rolled != p.raw
