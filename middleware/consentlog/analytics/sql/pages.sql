-- Page usefulness: one row per page (host, path) over the days {first_day} to {last_day}.
-- Every metric is defined in docs/metrics.md. The partial aggregates come from the
-- page_daily rollup for days already rolled up ({rolled_first} to {rolled_last}) and are
-- computed from the raw rows (page_daily.sql, spliced in below) for the other days.
-- Parameters: {db:Identifier}, {host:String} ('' for all), {min_sample:UInt32},
-- {rolled_first:Date}, {rolled_last:Date}, {first_day:Date}, {last_day:Date}.
WITH
    daily AS (
        SELECT day, host, path, views, bot_views, anonymous_views, not_found, server_errors,
               visitors, consented_views, sessions, entries, bounces, exits, onward_views,
               engaged_views, engaged_ms, scroll_sum, deep_reads, votes_yes, votes_no,
               goal_sessions
        FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String})
        UNION ALL
        SELECT * FROM (
            /* page_daily.sql */
        )
    ),
    merged AS (
        SELECT host, path,
               sum(views) AS views, sum(bot_views) AS bot_views,
               uniqCombined64IfMerge(12)(visitors) AS visitors,
               sum(anonymous_views) AS anonymous_views,
               sum(consented_views) AS consented_views, sum(sessions) AS sessions,
               sum(entries) AS entries, sum(bounces) AS bounces, sum(exits) AS exits,
               sum(onward_views) AS onward_views, sum(engaged_views) AS engaged_views,
               quantileExactWeightedIfMerge(0.5)(engaged_ms) AS median_engaged_ms,
               sum(scroll_sum) AS scroll_sum, sum(deep_reads) AS deep_reads,
               sum(votes_yes) AS votes_yes, sum(votes_no) AS votes_no,
               sum(not_found) AS not_found, sum(server_errors) AS server_errors,
               sum(goal_sessions) AS goal_sessions
        FROM daily
        GROUP BY host, path
    ),
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
