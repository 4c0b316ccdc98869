"""`cap_text`: strings cut to a destination's length limit at a word boundary, with an ellipsis; `same_hubspot_value`:
a value HubSpot echoes in another form is not a change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthsync.connector.sync.values import ELLIPSIS, cap_text, same_hubspot_value


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


@pytest.mark.parametrize(
    ("kind", "ours", "theirs", "same"),
    [
        ("number", "72", "72", True),
        ("number", "72", "72.0", True),
        ("number", "0.5", ".50", True),
        ("number", "72", "71", False),
        ("number", "72", "", False),
        ("number", None, "", True),
        ("number", "72", "n/a", False),
        ("datetime", "2026-12-07T09:30:00.000Z", "2026-12-07T09:30:00Z", True),
        ("datetime", "2026-12-07T09:30:00.000Z", "2026-12-07T10:30:00+01:00", True),
        ("datetime", "2026-12-07T09:30:00.000Z", "2026-12-07T09:31:00Z", False),
        ("date", "2026-12-07", "2026-12-07T00:00:00Z", True),
        ("bool", "true", "True", True),
        ("bool", "true", "false", False),
        ("enumeration", "a;b", "b;a", True),
        ("enumeration", "a;b", "a", False),
        ("string", "Acme", "acme", False),  # text is compared exactly: a case change by hand is a change
    ],
)
def test_same_hubspot_value(kind: str, ours: str | None, theirs: str, same: bool) -> None:
    assert same_hubspot_value(kind, ours, theirs) is same
