"""The source frames and the roll-up as they were on main before the per-run fixed cost went column-wise
(77e4f98, issue 14), kept verbatim as the reference (`in_key_order` from tests/scoring/before/activity.py);
tests/test_columnwise_output.py checks that the source reads the same frames and reports with the new code.
"""
