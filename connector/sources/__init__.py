"""Reading and aggregating: files, SQL and Segment sources, pushed-down aggregation, rejected-row reports."""

from healthsync.connector.sources import lakehouse  # noqa: F401  (the ClickHouse and Spark SQL spellings)
