"""The source frames code as it was on main before the per-run fixed cost went column-wise (77e4f98), kept
verbatim as the reference (in_key_order from tests/scoring/before/activity.py); tests/sources/test_columnwise_frames.py
checks the new code gives the same frames.
"""
