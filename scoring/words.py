"""Numbers and lists in plain English for reasons and summaries; missing values never reach the text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from healthsync.scoring.normalize import round_half_up


def optional_number(value: Any) -> float | None:
    """A finite float, or None for missing, NaN, infinite and non-numeric values."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def text(value: Any) -> str:
    """A label as text; missing values are the empty string."""
    return value if isinstance(value, str) else ""


def number(value: float) -> str:
    """A threshold or count without a needless decimal: 70.0 -> "70", 72.5 -> "72.5"."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def decimal(value: float, digits: int = 1) -> str:
    """A rate: whole numbers from 10 up, else `digits` decimals without trailing zeros (35, 3.5, 0.3)."""
    if digits == 0 or abs(value) >= 10:
        return str(round_half_up(value))
    shown = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if shown in ("", "-0") else shown


def count_of(count: int, singular: str, plural: str) -> str:
    """ "1 user", "3 users"."""
    return f"{count} {singular if count == 1 else plural}"


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def all_of(count: int) -> str:
    """ "both" for 2, else "all 7"."""
    return "both" if count == 2 else f"all {count}"
