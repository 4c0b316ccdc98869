"""The scoring code as it was before it went column-wise (commit 9b80d38), kept verbatim as the reference.

`table.score_accounts` / `score_users` here run the plays and summaries row by row (one dictionary per account);
tests/scoring/test_columnwise.py checks that the column-wise code gives the same tables to the byte.

`activity.py`, `explain.py`, `adoption.py` and `output.py` (its `_parquet_ready`) are main's code before the
per-run fixed cost went column-wise (77e4f98, issue 14); the reference tables use them (the explanations and the
adoption metrics are columns of the account table), and tests/scoring/test_explain_columnwise.py,
tests/scoring/test_activity_columnwise.py and tests/test_columnwise_output.py compare against them.
"""
