-- The audit of data-subject requests over [start, end): when, which request (export /
-- erase), through which channel, who acted (a dashboard user, 'cli', 'self-service'; ''
-- in rows before schema version 12), how many rows, whether it finished — never whom it
-- was about. Newest first, at most 500.
-- Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    ts,
    request,
    channel,
    actor,
    rows,
    outcome
FROM {db:Identifier}.subject_requests
WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
ORDER BY ts DESC
LIMIT 500
