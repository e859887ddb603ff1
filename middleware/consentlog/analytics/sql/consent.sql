-- Consent decisions per day (UTC) over [start, end), by action and policy revision,
-- with how many of them accepted analytics. Consent records carry no host. Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    toDate(ts) AS day,
    policy_revision,
    toString(action) AS action,
    count() AS decisions,
    countIf(has(categories, 'analytics')) AS analytics_accepted
FROM {db:Identifier}.consent_records
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND action != 'erase'
GROUP BY day, policy_revision, action
ORDER BY day, policy_revision, action
