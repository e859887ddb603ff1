-- The end of the page-usefulness reports (pages.sql, pages_rolled.sql, spliced in after
-- their CTE "merged" of one row per page): the metrics of docs/metrics.md, the usefulness
-- score, and the order of the rows. Parameter: {min_sample:UInt32}.
    metrics AS (
        SELECT host, path, views, bot_views, visitors, anonymous_views, entries,
               if(entries > 0, bounces / entries, NULL) AS bounce_rate,
               if(sessions > 0, exits / sessions, NULL) AS exit_rate,
               if(consented_views > 0, onward_views / consented_views, NULL)
                   AS click_through_rate,
               engaged_views,
               if(engaged_views > 0, median_engaged_ms, NULL) AS median_engaged_ms,
               if(engaged_views > 0, scroll_sum / engaged_views, NULL) AS avg_scroll_pct,
               if(engaged_views > 0, deep_reads / engaged_views, NULL) AS deep_read_rate,
               votes_yes, votes_no, not_found, server_errors,
               if(sessions > 0, goal_sessions / sessions, NULL) AS goal_rate
        FROM merged
    )
SELECT *,
       -- usefulness 0-100: weighted mean of the components that exist (docs/metrics.md)
       if(engaged_views < {min_sample:UInt32}, NULL, toUInt8(round(100 *
           (0.35 * least(median_engaged_ms / 30000, 1)
            + 0.25 * deep_read_rate
            + 0.20 * coalesce(1 - bounce_rate, 0)
            + 0.20 * if(votes_yes + votes_no > 0, (votes_yes + 1) / (votes_yes + votes_no + 2), 0))
           / (0.60 + if(isNotNull(bounce_rate), 0.20, 0) + if(votes_yes + votes_no > 0, 0.20, 0))
       ))) AS usefulness
FROM metrics
ORDER BY views DESC, host, path
