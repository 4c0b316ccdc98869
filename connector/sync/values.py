"""Score values rendered in each destination's wire format, so that diffs compare like with like."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from healthsync.mappings.models import HubSpotField, IntercomAttribute
from healthsync.scoring import utc_timestamp


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _timestamp(value: Any) -> datetime:
    """`value` as an aware UTC datetime (naive: taken as UTC; a fraction finer than microseconds is cut). The
    score table's instants arrive as ISO 8601 text (connector/records.py): read without pandas, 5x less CPU."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # pandas reads the other forms below
            value = datetime.fromisoformat(value)
    if type(value) is datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc_timestamp(value).to_pydatetime()


def _number(value: Any) -> str:
    """A plain decimal, as HubSpot number properties take it: digits, an optional leading -, one `.`; never an
    exponent (`1234567.5`, `0.00005`, not `1.23457e+06`, `5e-05`); at most 10 decimal places."""
    number = float(value)
    if not math.isfinite(number):
        return ""
    if number.is_integer():
        return str(int(number))
    text = format(Decimal(repr(round(number, 10))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def hubspot_value(field: HubSpotField, value: Any) -> str:
    """HubSpot takes every value as a string; "" clears a property; multi-select values are joined by ;."""
    if _missing(value):
        return ""
    if field.type == "number":
        return _number(value)
    if field.type == "bool":
        return "true" if bool(value) else "false"
    if field.type == "datetime":
        return _timestamp(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if field.type == "date":
        return _timestamp(value).date().isoformat()
    if isinstance(value, list | tuple):
        return ";".join(str(item) for item in value)
    return str(value)


def hubspot_values(field: HubSpotField, values: Iterable[Any]) -> list[str]:
    """:func:`hubspot_value` of each of `values` (one field's column): each distinct value rendered once (scores,
    tiers and percentages repeat across a book of 1,000,000 contacts; issue 25, item 1)."""
    rendered: dict[tuple[type, Any], str] = {}
    out = []
    for value in values:
        key = (type(value), value)  # 1, 1.0 and True are equal keys, but not the same text
        try:
            text = rendered[key]
        except KeyError:
            text = rendered[key] = hubspot_value(field, value)
        except TypeError:  # unhashable: a multi-select list
            text = hubspot_value(field, value)
        out.append(text)
    return out


def same_hubspot_value(kind: str, ours: Any, theirs: str) -> bool:
    """Whether a value we sent (as stored) and the one HubSpot holds now mean the same: numbers compared as
    numbers, dates and datetimes as instants, booleans without case, multi-select values as sets. HubSpot may
    echo a value in another form than it was sent (`72.0`, `...T00:00:00Z`): that is not a change by hand."""
    sent = "" if ours is None else str(ours)
    if sent == theirs:
        return True
    if not sent or not theirs:
        return False
    try:
        if kind == "number":
            return Decimal(sent) == Decimal(theirs)
        if kind in ("datetime", "date"):
            return bool(utc_timestamp(pd.Timestamp(sent)) == utc_timestamp(pd.Timestamp(theirs)))
    except (ArithmeticError, ValueError):
        return False
    if kind == "bool":
        return sent.lower() == theirs.lower()
    if kind == "enumeration":
        return set(sent.split(";")) == set(theirs.split(";"))
    return False


ELLIPSIS = "\u2026"


def cap_text(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else cut at the last word boundary that leaves room for an
    ellipsis (a single word longer than that is cut inside it), trailing spaces and punctuation dropped."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS) + 1]  # one more: a space right after the cut is a word boundary
    cut = head.rfind(" ")
    kept = head[:cut] if cut > 0 else head[:-1]
    return kept.rstrip(" ,;:-") + ELLIPSIS


def intercom_value(attribute: IntercomAttribute, value: Any) -> Any:
    """Intercom custom attributes are typed JSON; dates are Unix timestamps (seconds)."""
    if _missing(value):
        return None
    if attribute.type == "integer":
        return round(float(value))
    if attribute.type == "float":
        return float(value)
    if attribute.type == "boolean":
        return bool(value)
    if attribute.type in ("date", "datetime"):
        return int(_timestamp(value).timestamp())
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


def normalize_domain(domain: Any) -> str | None:
    """`https://www.Acme.com/pricing` -> `acme.com`; None for an empty value."""
    if _missing(domain):
        return None
    text = str(domain).strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.split("/", 1)[0].removeprefix("www.")
    return text or None
