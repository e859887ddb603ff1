-- The evidence pack's banner revisions: every revision a consent record of [start, end)
-- names, and every revision first shown in it, with the exact texts and settings
-- (content, canonical JSON whose SHA-256 is the revision).
-- Parameters:
--   {db:Identifier}  database
--   {start:DateTime64(3)} {end:DateTime64(3)}  the date range (end exclusive)
SELECT
    revision,
    min(first_seen) AS first_shown,
    any(policy_revision) AS policy_revision,
    any(language) AS language,
    any(content) AS content
FROM {db:Identifier}.banner_revisions
WHERE revision IN (
        SELECT banner_revision
        FROM {db:Identifier}.consent_records
        WHERE ts >= {start:DateTime64(3)} AND ts < {end:DateTime64(3)}
    )
    OR (first_seen >= {start:DateTime64(3)} AND first_seen < {end:DateTime64(3)})
GROUP BY revision
ORDER BY first_shown, revision
