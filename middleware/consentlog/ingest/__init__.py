"""Events from the request path to ClickHouse: queue, enrich, batch, insert, spool."""
