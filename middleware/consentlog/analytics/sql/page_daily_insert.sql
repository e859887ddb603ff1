-- The rollup job's insert: page_daily.sql's rows for {first_day} to {last_day} into the
-- page_daily table (the job rebuilds one day at a time, for every host). Parameters, those
-- of page_daily.sql: {db:Identifier}, {first_day:Date}, {last_day:Date}, {host:String}.
INSERT INTO {db:Identifier}.page_daily
/* page_daily.sql */
