-- Page usefulness: one row per page (host, path) over the days {first_day} to {last_day}.
-- Every metric is defined in docs/metrics.md. The partial aggregates come from the
-- page_daily rollup for days already rolled up ({rolled_first} to {rolled_last}) and are
-- computed from the raw rows (page_daily.sql, spliced in below) for the other days; that
-- section ("raw days") is left out when there are none (metrics.page_report).
-- Parameters: {db:Identifier}, {host:String} ('' for all), {min_sample:UInt32},
-- {rolled_first:Date}, {rolled_last:Date}, {first_day:Date}, {last_day:Date},
-- {lookback:Int16} (page_daily.sql's: -1, no gaps for the raw days).
WITH
    -- rolled-up pages with a day of the range rolled up before migration 11 (visitor_kept
    -- 0) and not rebuilt yet: they count with that day's states, as before
    stale AS (
        SELECT DISTINCT host, path FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String}) AND visitor_kept = 0
    ),
    -- rolled-up pages with 10,000 visitors or more over the range, for certain (a day of
    -- over 10,000, visitor_kept 2) or as good as (1,600 distinct hashes in the sample, an
    -- eighth of the hash space, where fewer than 10,000 visitors leave 1,250 at most on
    -- average: the chance of 1,600 is below 1e-18). docs/metrics.md "Visitors".
    capped AS (
        SELECT DISTINCT host, path FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String}) AND visitor_kept = 2
    ),
    many AS (
        SELECT host, path FROM capped
        UNION ALL
        SELECT host, path FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String})
          AND (host, path) NOT IN (SELECT host, path FROM capped)
        GROUP BY host, path
        HAVING uniqExactArray(visitor_sample) >= 1600
    ),
    daily AS (
        -- the states of before migration 11 (visitors, engaged_ms) are left unread here:
        -- reading them costs more than the rest of the report
        SELECT day, host, path, views, bot_views, anonymous_views, not_found, server_errors,
               initializeAggregation('uniqCombined64IfState(12)', '', toUInt8(0)) AS visitors,
               consented_views, sessions, entries, bounces, exits, onward_views,
               engaged_views,
               initializeAggregation('quantileExactWeightedIfState(0.5)', toUInt32(0),
                                     toUInt8(1), toUInt8(0)) AS engaged_ms,
               scroll_sum, deep_reads, votes_yes, votes_no, goal_sessions,
               visitor_kept, visitor_hashes, visitor_sample, engaged_hist, engaged_long,
               (host, path) IN many AS is_many
        FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String})
        UNION ALL
        -- ... but for the stale pages: their states, every other column zero
        SELECT day, host, path, 0, 0, 0, 0, 0, visitors, 0, 0, 0, 0, 0, 0, 0, engaged_ms,
               0, 0, 0, 0, 0, 0, [], [], [], [], false
        FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String})
          AND (host, path) IN (SELECT host, path FROM stale)
        -- raw days: begin (left out when every day of the report is rolled up: this
        -- branch costs ~40 ms of query analysis even when it reads nothing)
        UNION ALL
        SELECT * EXCEPT (visitor_gaps, visitor_gap_counts, visitor_lookback),
               (host, path) IN many
        FROM (
            /* page_daily.sql */
        )
        -- raw days: end
    ),
    merged AS (
        SELECT host, path,
               sum(views) AS views, sum(bot_views) AS bot_views,
               -- visitors (docs/metrics.md): estimated from the sample (times 8) when a day
               -- had over 10,000 or the sample holds 1,600, else exact: the sample's and
               -- the other hashes' (pages in "many" are of the first kind: their other
               -- hashes are left alone)
               uniqExactArray(visitor_sample) AS sampled,
               -- every branch of one type: a server would otherwise answer a Variant,
               -- which its Native format cannot send
               multiIf(min(visitor_kept) = 0, toUInt64(uniqCombined64IfMerge(12)(visitors)),
                       max(visitor_kept) = 2 OR sampled >= 1600, toUInt64(sampled * 8),
                       toUInt64(sampled + uniqExactArrayIf(visitor_hashes, NOT is_many)))
                   AS visitors,
               sum(anonymous_views) AS anonymous_views,
               sum(consented_views) AS consented_views, sum(sessions) AS sessions,
               sum(entries) AS entries, sum(bounces) AS bounces, sum(exits) AS exits,
               sum(onward_views) AS onward_views, sum(engaged_views) AS engaged_views,
               -- the lower median (as quantileExactWeighted(0.5)): the k-th smallest of n,
               -- k = ceil(n / 2), from the per-second counts or the longer ones' seconds
               sumForEach(engaged_hist) AS hist,
               arraySum(hist) AS short,
               arrayFlatten(groupArray(engaged_long)) AS long,
               intDiv(short + length(long) + 1, 2) AS k,
               multiIf(min(visitor_kept) = 0,
                       toFloat64(quantileExactWeightedIfMerge(0.5)(engaged_ms)),
                       short >= k,
                       toFloat64((arrayFirstIndex(c -> c >= k, arrayCumSum(hist)) - 1) * 1000),
                       toFloat64(arraySort(long)[k - short] * 1000)) AS median_engaged_ms,
               sum(scroll_sum) AS scroll_sum, sum(deep_reads) AS deep_reads,
               sum(votes_yes) AS votes_yes, sum(votes_no) AS votes_no,
               sum(not_found) AS not_found, sum(server_errors) AS server_errors,
               sum(goal_sessions) AS goal_sessions
        FROM daily
        GROUP BY host, path
    ),
    /* page_metrics.sql */
