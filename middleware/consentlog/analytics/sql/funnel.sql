-- A funnel over [start, end): how many consented sessions took its steps in order (other
-- page views and goals between them allowed), step by step. A step is a page view whose
-- path matches a pattern (kind 'page') or a goal reached (kind 'goal'); up to 8 steps,
-- the kinds and patterns given as arrays of the same length ({steps} of them; a step past
-- the last matches nothing). Sessions are followed within one UTC day, as everywhere
-- (windowFunnel over a day, in milliseconds); bots are left out. A session counts for step k when it
-- took steps 1 to k in that order.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {kinds:Array(String)} {patterns:Array(String)}  the steps   {steps:UInt8}  how many
WITH levels AS (
    SELECT windowFunnel(86400000)(  -- a day, in milliseconds
        toUInt64(toUnixTimestamp64Milli(ts)),
        {kinds:Array(String)}[1] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[1])
            OR {kinds:Array(String)}[1] = 'goal' AND goal = {patterns:Array(String)}[1],
        {kinds:Array(String)}[2] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[2])
            OR {kinds:Array(String)}[2] = 'goal' AND goal = {patterns:Array(String)}[2],
        {kinds:Array(String)}[3] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[3])
            OR {kinds:Array(String)}[3] = 'goal' AND goal = {patterns:Array(String)}[3],
        {kinds:Array(String)}[4] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[4])
            OR {kinds:Array(String)}[4] = 'goal' AND goal = {patterns:Array(String)}[4],
        {kinds:Array(String)}[5] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[5])
            OR {kinds:Array(String)}[5] = 'goal' AND goal = {patterns:Array(String)}[5],
        {kinds:Array(String)}[6] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[6])
            OR {kinds:Array(String)}[6] = 'goal' AND goal = {patterns:Array(String)}[6],
        {kinds:Array(String)}[7] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[7])
            OR {kinds:Array(String)}[7] = 'goal' AND goal = {patterns:Array(String)}[7],
        {kinds:Array(String)}[8] = 'page' AND page != '' AND match(page, {patterns:Array(String)}[8])
            OR {kinds:Array(String)}[8] = 'goal' AND goal = {patterns:Array(String)}[8]
    ) AS level
    FROM (
        SELECT ts, session_id, path AS page, '' AS goal
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
          AND NOT is_bot AND session_id != ''
        UNION ALL
        SELECT ts, session_id, '' AS page, name AS goal
        FROM {db:Identifier}.goals
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
          AND NOT is_bot AND session_id != ''
    )
    GROUP BY session_id, toDate(ts)
)
SELECT step, countIf(level >= step) AS sessions
FROM levels
ARRAY JOIN range(1, {steps:UInt8} + 1) AS step
GROUP BY step
ORDER BY step
