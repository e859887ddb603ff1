-- What visitors did after one page over [start, end): the page viewed next in the same
-- session, or '' when the session ended there (an exit). Sessions exist only with
-- analytics consent; a session's views are ordered as in pages.sql (ts, pageview_id) and,
-- as there, followed within one UTC day, so the exits here add up to the page's exits.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {path:String}  the page                {limit:UInt32}  rows to return
WITH
    sequenced AS (
        SELECT
            path,
            leadInFrame(path) OVER (
                PARTITION BY session_id, toDate(ts) ORDER BY ts, pageview_id
                ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING
            ) AS next_path
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
          AND NOT is_bot AND session_id != ''
    )
SELECT next_path, count() AS views
FROM sequenced
WHERE path = {path:String}
GROUP BY next_path
ORDER BY views DESC, next_path
LIMIT {limit:UInt32}
