"""The scoring code as it was before it went column-wise (commit 9b80d38), kept verbatim as the reference.

`table.score_accounts` / `score_users` here run the plays and summaries row by row (one dictionary per account);
tests/scoring/test_columnwise.py checks that the column-wise code gives the same tables to the byte.
"""
