-- The audit of data-subject requests over [start, end): when, which request (export /
-- erase), through which channel, how many rows — never whom. Newest first, at most 500.
-- Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    ts,
    request,
    channel,
    rows
FROM {db:Identifier}.subject_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
ORDER BY ts DESC
LIMIT 500
