-- The evidence pack's audit of data-subject requests over [start, end): every row of
-- subject_requests (never whom a request was about). Oldest first.
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
ORDER BY ts
