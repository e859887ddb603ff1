-- Page usefulness over days that are all rolled up, from page_daily alone: pages.sql's
-- rows, at a fraction of its cost. Visitors count exactly, whatever their number: on each
-- day, those whose previous view of the page was before the first day of the range (or
-- none in the day's lookback). A page with a day whose gaps do not reach back to the
-- first day (rolled up before migration 13, or after its first raw days expired) gets
-- NULL visitors, and metrics.page_report then answers with pages.sql, which counts from
-- the hashes. docs/metrics.md "How visitors are counted".
-- Parameters: {db:Identifier}, {host:String} ('' for all), {min_sample:UInt32},
-- {rolled_first:Date}, {rolled_last:Date}.
WITH
    merged AS (
        SELECT host, path,
               sum(views) AS views, sum(bot_views) AS bot_views,
               -- a visitor of a day counts if it had not viewed the page since the range
               -- began: its gap (days since its previous view; 0 none) is longer than
               -- the days from the first day to this one
               if(min(visitor_lookback - (day - {rolled_first:Date})) >= 0
                      AND min(visitor_kept) > 0,
                  sum(arraySum(
                      (gap, visitors) -> if(gap = 0 OR gap > day - {rolled_first:Date},
                                            visitors, 0),
                      visitor_gaps, visitor_gap_counts)),
                  NULL) AS visitors,
               sum(anonymous_views) AS anonymous_views,
               sum(consented_views) AS consented_views, sum(sessions) AS sessions,
               sum(entries) AS entries, sum(bounces) AS bounces, sum(exits) AS exits,
               sum(onward_views) AS onward_views, sum(engaged_views) AS engaged_views,
               -- the lower median, as pages.sql has it
               sumForEach(engaged_hist) AS hist,
               arraySum(hist) AS short,
               arrayFlatten(groupArray(engaged_long)) AS long,
               intDiv(short + length(long) + 1, 2) AS k,
               toFloat64(if(short >= k,
                            (arrayFirstIndex(c -> c >= k, arrayCumSum(hist)) - 1) * 1000,
                            arraySort(long)[k - short] * 1000)) AS median_engaged_ms,
               sum(scroll_sum) AS scroll_sum, sum(deep_reads) AS deep_reads,
               sum(votes_yes) AS votes_yes, sum(votes_no) AS votes_no,
               sum(not_found) AS not_found, sum(server_errors) AS server_errors,
               sum(goal_sessions) AS goal_sessions
        FROM {db:Identifier}.page_daily
        WHERE day >= {rolled_first:Date} AND day <= {rolled_last:Date}
          AND ({host:String} = '' OR host = {host:String})
        GROUP BY host, path
    ),
    /* page_metrics.sql */
