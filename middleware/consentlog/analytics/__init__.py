"""What analysts read: the report SQL (``sql/``), metrics and reports, the daily rollup."""
