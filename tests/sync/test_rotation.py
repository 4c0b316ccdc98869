"""The rotating re-verification shared by HubSpot's bounded reads and Intercom's contact searches."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from healthsync.connector.sync.baseline import rotation


def test_the_rotation_goes_on_from_the_cursor_and_starts_again_past_the_end() -> None:
    ids = ["a", "b", "c", "d", "e"]
    assert rotation(ids, 0, 2) == (["a", "b", "c"], 3)
    assert rotation(ids, 3, 2) == (["d", "e"], 5)
    assert rotation(ids, 5, 2) == (["a", "b", "c"], 3)
    assert rotation(ids, 0, 1) == (ids, 5)
    assert rotation([], 4, 7) == ([], 0)


@given(st.integers(0, 300), st.integers(1, 12), st.integers(0, 400))
def test_every_id_is_verified_within_every_runs(count: int, every: int, cursor: int) -> None:
    """Whatever the stored cursor, `every` runs in a row verify each id at least once, each run at most
    ceil(count / every) of them."""
    ids = list(range(count))
    seen: set[int] = set()
    for _ in range(every + 1):  # the first run may finish the tail of a previous round
        window, cursor = rotation(ids, cursor, every)
        assert len(window) <= math.ceil(count / every)
        seen |= set(window)
    assert seen == set(ids)
