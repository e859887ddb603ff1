-- Rolled-up days since {since} whose raw rows no longer add up to their rollup: late
-- rows replayed from a spool, or an erasure. A day's rollup counts every request of the
-- day that is a view (views + bot_views; a consented copy is none, see page_daily.sql)
-- and every human page view of a session (consented_views, copies included), and
-- rollup_days the goals of sessions it saw (counted before the day was built); the
-- rollup job rebuilds each recorded day where one of them differs — a day recorded
-- with no rows at all (the watermark) too, once its rows arrive. Parameters:
--   {db:Identifier}  database            {since:Date}  the first day compared
SELECT d.day FROM (
    SELECT day, argMax(goals, rolled_at) AS seen
    FROM {db:Identifier}.rollup_days
    WHERE day >= {since:Date} GROUP BY day
) AS d
LEFT JOIN (
    SELECT day, sum(views) + sum(bot_views) AS rolled, sum(consented_views) AS followed
    FROM {db:Identifier}.page_daily
    WHERE day >= {since:Date} GROUP BY day
) AS r ON r.day = d.day
LEFT JOIN (
    SELECT toDate(ts) AS day, countIf(NOT consented_copy) AS raw,
           countIf(NOT is_bot AND session_id != '') AS in_sessions
    FROM {db:Identifier}.page_requests
    WHERE ts >= toDateTime64({since:Date}, 3, 'UTC') GROUP BY day
) AS p ON p.day = d.day
LEFT JOIN (
    SELECT toDate(ts) AS day, count() AS goals
    FROM {db:Identifier}.goals
    WHERE ts >= toDateTime64({since:Date}, 3, 'UTC') AND session_id != '' GROUP BY day
) AS g ON g.day = d.day
WHERE r.rolled != p.raw OR r.followed != p.in_sessions OR d.seen != g.goals
