-- The evidence pack's consent records over [start, end): each decision with the banner
-- revision it was made on. Without the visitor id and address prefix unless asked for
-- ({identifiers:UInt8} = 1): the consent id already links a record to a browser that
-- shows its cookie. Oldest first.
-- Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
--   {identifiers:UInt8}  1: with visitor_id and ip_prefix
SELECT
    ts,
    consent_id,
    action,
    categories,
    policy_revision,
    source,
    banner_revision,
    browser,
    if({identifiers:UInt8} = 1, visitor_id, '') AS visitor_id,
    if({identifiers:UInt8} = 1, ip_prefix, '') AS ip_prefix
FROM {db:Identifier}.consent_records
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
ORDER BY ts, consent_id
