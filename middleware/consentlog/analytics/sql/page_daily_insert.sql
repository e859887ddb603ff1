-- The rollup job's insert: page_daily.sql's rows for {first_day} to {last_day} into the
-- page_daily table (the job rebuilds one day at a time, for every host). Parameters, those
-- of page_daily.sql: {db:Identifier}, {first_day:Date}, {last_day:Date}, {host:String},
-- {lookback:Int16}.
-- A day with over 10,000 visitors on a page keeps only the sample of their hashes
-- (visitor_kept 2): any range holding that day has 10,000 visitors or more.
INSERT INTO {db:Identifier}.page_daily
SELECT * REPLACE (if(visitor_kept = 2, [], visitor_hashes) AS visitor_hashes) FROM (
/* page_daily.sql */
)
