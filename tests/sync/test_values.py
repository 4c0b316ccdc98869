"""`cap_text`: strings cut to a destination's length limit at a word boundary, with an ellipsis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthsync.connector.sync.values import ELLIPSIS, cap_text


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 255, "short"),
        ("x" * 255, 255, "x" * 255),
        ("one two three", 10, "one two" + ELLIPSIS),
        ("one two, three", 10, "one two" + ELLIPSIS),  # no dangling comma before the ellipsis
        ("abcdefghijklmnop", 10, "abcdefghi" + ELLIPSIS),  # one long word is cut inside it
        ("one two three", 8, "one two" + ELLIPSIS),  # the space right after the cut is a boundary
    ],
)
def test_cap_text(text: str, limit: int, expected: str) -> None:
    assert cap_text(text, limit) == expected


@given(st.text(alphabet=st.sampled_from("ab ,"), max_size=400), st.integers(min_value=2, max_value=300))
def test_cap_text_fits_and_keeps_a_prefix(text: str, limit: int) -> None:
    capped = cap_text(text, limit)
    assert len(capped) <= limit
    if capped != text:
        assert capped.endswith(ELLIPSIS)
        assert text.startswith(capped[: -len(ELLIPSIS)])
