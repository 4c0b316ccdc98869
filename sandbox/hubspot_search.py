"""HubSpot CRM search: filterGroups (OR of ANDs), sorts, properties, after paging, and the documented limits.

At most 5 filter groups, 10 filters per group and 25 filters in all; ``limit`` at most 200; at most 10,000 results
per query (paging to ``after`` >= 10,000 is a 400). Searches see the index, which lags behind writes.
Strings compare case-insensitively; ``CONTAINS_TOKEN`` matches a run of word tokens (``*`` is a wildcard), so
``b.com`` is found in ``a.com;b.com``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from healthsync.sandbox.hubspot_errors import JSON, ApiError
from healthsync.sandbox.hubspot_properties import PropertyDef, parse_instant
from healthsync.sandbox.hubspot_records import Record, Records

MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_TOKEN = re.compile(r"[\w*]+")

Predicate = Callable[[dict[str, str]], bool]


def search(records: Records, object_type: str, body: Any) -> JSON:
    request = body if isinstance(body, dict) else {}
    limit = _integer(request.get("limit", 10), "limit")
    after = _integer(request.get("after") or 0, "after")
    if limit < 1 or limit > MAX_LIMIT:
        raise ApiError.validation(f"limit must be between 1 and {MAX_LIMIT}, got {limit}", limit=[str(limit)])
    if after >= MAX_RESULTS:
        raise ApiError.validation(
            f"The search API returns at most {MAX_RESULTS} results per query; paging to after={after} is not allowed",
            after=[str(after)],
        )
    matches = _predicate(records, object_type, request.get("filterGroups") or [], request.get("query"))
    sorts = request.get("sorts") or []

    def run() -> list[tuple[Record, dict[str, str]]]:
        found = [(record, values) for record, values in records.indexed(object_type) if matches(values)]
        return _sorted(records, object_type, found, sorts)

    asked = [request.get("filterGroups"), request.get("query"), sorts]
    found = records.searched(f"{object_type} {json.dumps(asked, sort_keys=True, default=str)}", run)
    names = records.property_names(object_type, request.get("properties"))
    end = min(after + limit, MAX_RESULTS)
    page = found[after:end]
    response: JSON = {"total": len(found), "results": [_result(record, values, names) for record, values in page]}
    if end < len(found):
        response["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
    return response


def _result(record: Record, values: dict[str, str], names: list[str]) -> JSON:
    body = record.to_json()
    body["properties"] = {name: values.get(name) for name in names}
    return body


def _integer(raw: Any, name: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError.validation(f"{name} must be an integer, got {raw!r}") from None


def _predicate(records: Records, object_type: str, groups: Any, query: Any) -> Predicate:
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise ApiError.validation(f"At most {MAX_GROUPS} filterGroups are allowed in a search request")
    compiled: list[list[Predicate]] = []
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise ApiError.validation(f"At most {MAX_FILTERS_PER_GROUP} filters are allowed in one filterGroup")
        compiled.append([_filter(records, object_type, item) for item in filters])
    if sum(len(group) for group in compiled) > MAX_FILTERS:
        raise ApiError.validation(f"At most {MAX_FILTERS} filters are allowed in a search request")
    text = _tokens(str(query)) if query else []

    def matches(values: dict[str, str]) -> bool:
        if text and not any(_contains(_tokens(value), text) for value in values.values()):
            return False
        return not compiled or any(all(check(values) for check in group) for group in compiled)

    return matches


def _filter(records: Records, object_type: str, item: JSON) -> Predicate:
    name, operator = str(item.get("propertyName")), str(item.get("operator", "EQ"))
    prop = records.catalogue.get(object_type, name)
    if prop is None:
        raise ApiError.validation(f"There was a problem with the request: property {name} does not exist")
    if operator not in OPERATORS:
        raise ApiError.validation(f"Unknown filter operator {operator}; use one of {sorted(OPERATORS)}")
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = operator == "HAS_PROPERTY"
        return lambda values: bool(values.get(name)) is wanted
    if operator in ("IN", "NOT_IN"):
        options = [str(value) for value in item.get("values") or []]
        inside = operator == "IN"
        if not prop.multi:  # one key per stored value: a set lookup, not one comparison per option (issue 25)
            keys = {key for key in (_key(prop, option) for option in options) if key is not None}
            return lambda values: _in(prop, values.get(name), keys) is inside
        return lambda values: any(_equal(prop, values.get(name), option) for option in options) is inside
    value = item.get("value")
    if value is None:
        raise ApiError.validation(f"Filter on {name} with operator {operator} needs a value")
    wanted_text = str(value)
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        tokens, positive = _tokens(wanted_text), operator == "CONTAINS_TOKEN"
        return lambda values: _contains(_tokens(values.get(name) or ""), tokens) is positive
    if operator in ("EQ", "NEQ"):
        equal = operator == "EQ"
        return lambda values: _equal(prop, values.get(name), wanted_text) is equal
    return _comparison(prop, operator, wanted_text, item.get("highValue"))


def _comparison(prop: PropertyDef, operator: str, low: str, high: Any) -> Predicate:
    low_key = _key(prop, low)
    high_key = _key(prop, str(high)) if high is not None else None
    if low_key is None or (operator == "BETWEEN" and high_key is None):
        raise ApiError.validation(f"Filter value {low!r} is not valid for property {prop.name} ({prop.type})")

    def check(values: dict[str, str]) -> bool:
        stored = values.get(prop.name)
        key = _key(prop, stored) if stored else None
        if key is None:
            return False
        outcomes: dict[str, bool] = {
            "BETWEEN": high_key is not None and low_key <= key <= high_key,
            "LT": key < low_key,
            "LTE": key <= low_key,
            "GT": key > low_key,
            "GTE": key >= low_key,
        }
        return outcomes[operator]

    return check


def _key(prop: PropertyDef, value: str) -> Any:
    """A comparable form of a value: numbers and instants numerically, the rest as lowercase text."""
    if prop.type == "number":
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    if prop.type in ("date", "datetime"):
        moment = parse_instant(value)
        return None if moment is None else moment.timestamp()
    return value.lower()


def _equal(prop: PropertyDef, stored: str | None, wanted: str) -> bool:
    if not stored:
        return False
    if prop.multi:
        return wanted.lower() in (part.lower() for part in stored.split(";"))
    key, wanted_key = _key(prop, stored), _key(prop, wanted)
    return key is not None and key == wanted_key


def _in(prop: PropertyDef, stored: str | None, keys: set[Any]) -> bool:
    """`_equal` of a single-valued property against any of several wanted values, by their keys."""
    if not stored:
        return False
    key = _key(prop, stored)
    return key is not None and key in keys


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def _contains(tokens: list[str], wanted: list[str]) -> bool:
    if not wanted:
        return False
    for start in range(len(tokens) - len(wanted) + 1):
        window = tokens[start : start + len(wanted)]
        if all(fnmatch.fnmatchcase(token, pattern) for token, pattern in zip(window, wanted, strict=True)):
            return True
    return False


def _sorted(
    records: Records, object_type: str, found: list[tuple[Record, dict[str, str]]], sorts: Any
) -> list[tuple[Record, dict[str, str]]]:
    ordered = sorted(found, key=lambda pair: int(pair[0].id))
    for sort in reversed(sorts if isinstance(sorts, list) else []):
        name, descending = _sort_spec(sort)
        prop = records.catalogue.get(object_type, name)
        if prop is None:
            raise ApiError.validation(f"Cannot sort by unknown property {name}")
        present: list[tuple[Any, tuple[Record, dict[str, str]]]] = []
        absent: list[tuple[Record, dict[str, str]]] = []
        for pair in ordered:  # one pass: `pair not in present` compared records pairwise (minutes at 100k)
            key = _key(prop, pair[1].get(name) or "")
            if key in (None, ""):
                absent.append(pair)
            else:
                present.append((key, pair))
        present.sort(key=lambda keyed: keyed[0], reverse=descending)
        ordered = [pair for _, pair in present] + absent
    return ordered


def _sort_spec(sort: Any) -> tuple[str, bool]:
    """A sort given as {"propertyName", "direction"} or as a string, "-name" meaning descending."""
    if isinstance(sort, dict):
        return str(sort.get("propertyName")), str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    text = str(sort)
    return text.lstrip("-"), text.startswith("-")
