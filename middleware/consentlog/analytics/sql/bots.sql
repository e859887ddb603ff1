-- Page requests over [start, end) by bot signal (ingest/bots.py): '' for people's
-- requests, else the first signal that marked the request a bot's — 'agent' (its user
-- agent says so), 'list' (the crawler list knows it), 'headers' (no browser headers),
-- 'datacentre' (an address in the operator's data-centre ranges). Rows from before
-- migration 10 have 'agent' for every bot. "verified" counts the requests whose page
-- view the banner script confirmed: without consent its check (browser_checks, within
-- the check token's hour), with consent its beacon (engagements, within a day).
-- Consented copies are left out (their view is the anonymous row's).
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    bot_signal AS signal,
    count() AS requests,
    countIf(verified) AS verified,
    uniqExact(host, path) AS pages
FROM (
    SELECT
        bot_signal,
        host,
        path,
        -- a consented view's id is only ever in engagements, an anonymous one's only in
        -- browser_checks: one set of both
        pageview_id IN (
            SELECT pageview_id FROM {db:Identifier}.engagements
            WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)} + INTERVAL 1 DAY
            UNION ALL
            SELECT pageview_id FROM {db:Identifier}.browser_checks
            WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)} + INTERVAL 1 HOUR
        ) AS verified
    FROM {db:Identifier}.page_requests
    WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
      AND ({host:String} = '' OR host = {host:String})
      AND NOT consented_copy
)
GROUP BY signal
ORDER BY signal != '', requests DESC, signal
