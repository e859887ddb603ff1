-- Verified browser views per page over [start, end): of the human views (no bot signal,
-- consented copies left out), those whose page view the banner script confirmed — a
-- view served without consent by its check (browser_checks: the script's first request,
-- within the check token's hour), a consented view by its beacon (engagements, within a
-- day). What a crawler that never runs JavaScript fetched is a view that stays
-- unverified; so is one whose visitor blocks scripts.
-- Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {limit:UInt32}  pages to return, most viewed first
SELECT
    host,
    path,
    count() AS views,
    countIf(verified) AS verified_views,
    countIf(consent_state != 'granted') AS anonymous_views,
    countIf(consent_state != 'granted' AND verified) AS verified_anonymous_views
FROM (
    SELECT
        host,
        path,
        consent_state,
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
      AND NOT is_bot
      AND NOT consented_copy
)
GROUP BY host, path
ORDER BY views DESC, host, path
LIMIT {limit:UInt32}
