"""`cap_text`: strings cut to a destination's length limit at a word boundary, with an ellipsis; `same_hubspot_value`:
a value HubSpot echoes in another form is not a change."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthsync.connector.sync.values import ELLIPSIS, cap_text, hubspot_value, hubspot_values, same_hubspot_value
from healthsync.mappings.models import HubSpotField


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


def _field(kind: str) -> HubSpotField:
    options = ["a", "b"] if kind == "enumeration" else []
    return HubSpotField(property="healthsync_p", column="c", label="P", type=kind, options=options)  # type: ignore[arg-type]


def _reference_instant(value: str, kind: str) -> str:
    """HubSpot's text for an instant, computed with pandas alone (the product reads ISO text without it)."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if kind == "date":
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
                lambda moment: moment.isoformat()
            ),
            st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()).map(
                lambda moment: moment.isoformat().replace("+00:00", "Z")
            ),
        ),
        max_size=30,
    ),
    st.sampled_from(["datetime", "date"]),
)
def test_instants_read_without_pandas_match_pandas(values: list[str | None], kind: str) -> None:
    """The score table's ISO text (naive = UTC, Z, offsets) rendered as pandas renders it, a column at a time."""
    expected = ["" if value is None else _reference_instant(value, kind) for value in values]
    assert hubspot_values(_field(kind), values) == expected
    assert [hubspot_value(_field(kind), value) for value in values] == expected


@given(
    st.lists(st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3))),
    st.sampled_from(["number", "bool", "string", "enumeration"]),
)
def test_a_column_renders_each_value_as_one_value_would(values: list[object], kind: str) -> None:
    """Distinct values are rendered once per column; 1, 1.0 and True stay three values (their texts differ)."""
    field = _field(kind)
    values = [value for value in values if kind != "number" or not isinstance(value, str)]  # numbers are numbers
    assert hubspot_values(field, values) == [hubspot_value(field, value) for value in values]
    assert hubspot_values(_field("string"), [1, 1.0, True]) == ["1", "1.0", "True"]
