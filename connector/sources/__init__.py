"""Reading and aggregating: files, SQL and Segment sources, pushed-down aggregation, rejected-row reports."""
