-- Share of consent decisions over [start, end) that came from a Global Privacy Control
-- signal (source 'gpc': a refusal taken without the banner). Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    count() AS decisions,
    countIf(source = 'gpc') AS gpc_decisions,
    if(decisions > 0, gpc_decisions / decisions, NULL) AS gpc_share
FROM {db:Identifier}.consent_records
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
  AND action != 'erase'
