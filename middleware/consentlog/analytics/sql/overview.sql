-- Overview: one row of site-wide totals over [start, end).
-- Views and visitors as in docs/metrics.md: a view is a human (NOT is_bot) page request,
-- with or without consent, not a consented copy (the page on which a visitor accepted,
-- counted once already); visitors and sessions are distinct non-empty ids (consented).
-- Consent decisions have no host, so {host} filters the page figures only. Parameters:
--   {db:Identifier}  database            {host:String}  one host, or '' for all
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
WITH
    requests AS (
        SELECT
            countIf(NOT is_bot AND NOT consented_copy) AS views,
            countIf(is_bot AND NOT consented_copy) AS bot_views,
            uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors,
            uniqExactIf(session_id, NOT is_bot AND session_id != '') AS sessions,
            countIf(NOT is_bot AND NOT consented_copy AND consent_state != 'granted')
                AS anonymous_views,
            countIf(NOT is_bot AND NOT consented_copy AND consent_state = 'granted')
                AS granted_views,
            countIf(NOT is_bot AND NOT consented_copy AND consent_state = 'denied')
                AS denied_views,
            countIf(NOT is_bot AND NOT consented_copy AND consent_state = 'unknown')
                AS unknown_views
        FROM {db:Identifier}.page_requests
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
          AND ({host:String} = '' OR host = {host:String})
    ),
    -- a decision accepts analytics when the category is among those accepted; a
    -- withdrawal is counted apart, as neither acceptance nor refusal
    decisions AS (
        SELECT
            countIf(action != 'erase') AS decisions,
            countIf(action NOT IN ('erase', 'withdraw') AND has(categories, 'analytics'))
                AS analytics_accepted,
            countIf(action NOT IN ('erase', 'withdraw') AND NOT has(categories, 'analytics'))
                AS analytics_refused,
            countIf(action = 'withdraw') AS withdrawals
        FROM {db:Identifier}.consent_records
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
    )
SELECT
    r.views AS views,
    r.bot_views AS bot_views,
    r.visitors AS visitors,
    r.sessions AS sessions,
    r.anonymous_views AS anonymous_views,
    r.granted_views AS granted_views,
    r.denied_views AS denied_views,
    r.unknown_views AS unknown_views,
    d.decisions AS decisions,
    d.analytics_accepted AS analytics_accepted,
    d.analytics_refused AS analytics_refused,
    d.withdrawals AS withdrawals,
    if(d.decisions > 0, d.analytics_accepted / d.decisions, NULL) AS consent_rate,
    if(r.views > 0, r.granted_views / r.views, NULL) AS granted_view_share
FROM requests AS r
CROSS JOIN decisions AS d
