-- Consent decisions per time bucket of {interval_s} seconds over [start, end), by policy
-- revision and action, with how many accepted analytics: consent.sql per bucket instead
-- of per day. Consent records carry no host. The buckets are those of Grafana's
-- $__timeInterval(ts). Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the range (end exclusive)
--   {interval_s:UInt32}  the bucket width in seconds
SELECT
    toStartOfInterval(toDateTime(ts), INTERVAL {interval_s:UInt32} SECOND) AS time,
    policy_revision,
    toString(action) AS action,
    count() AS decisions,
    countIf(has(categories, 'analytics')) AS analytics_accepted
FROM {db:Identifier}.consent_records
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND action != 'erase'
GROUP BY time, policy_revision, action
ORDER BY time, policy_revision, action
