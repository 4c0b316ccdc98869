"""`key_positions`: each row's key among the rows of another frame, against pandas' own left merge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthsync.scoring.activity import key_positions


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_two_column_keys_are_found_where_a_merge_finds_them(dtype: str) -> None:
    rng = np.random.default_rng(3)
    pairs = {(f"a{a}", f"u{u}") for a, u in zip(rng.integers(0, 30, 400), rng.integers(0, 50, 400), strict=True)}
    among = pd.DataFrame(sorted(pairs), columns=["account_id", "user_id"]).astype(dtype)
    frame = pd.DataFrame(
        {
            "account_id": [f"a{a}" for a in rng.integers(0, 35, 500)],  # some accounts only here
            "user_id": [f"u{u}" for u in rng.integers(0, 55, 500)],
        }
    ).astype(dtype)
    found = key_positions(frame, among, ["account_id", "user_id"])
    numbered = among.assign(row=np.arange(len(among)))
    expected = frame.merge(numbered, on=["account_id", "user_id"], how="left")["row"].fillna(-1).astype(int)
    assert found.tolist() == expected.tolist()
    assert (found == -1).any() and (found >= 0).any()


def test_one_column_keys_and_empty_frames() -> None:
    among = pd.DataFrame({"account_id": ["b", "a"]})
    assert key_positions(pd.DataFrame({"account_id": ["a", "c", "b"]}), among, ["account_id"]).tolist() == [1, -1, 0]
    empty = pd.DataFrame({"account_id": pd.Series([], dtype=object), "user_id": pd.Series([], dtype=object)})
    assert key_positions(empty, among.assign(user_id=["x", "y"]), ["account_id", "user_id"]).tolist() == []
    assert key_positions(among.assign(user_id=["x", "y"]), empty, ["account_id", "user_id"]).tolist() == [-1, -1]
