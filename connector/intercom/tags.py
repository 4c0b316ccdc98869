"""Tags as fields: an acknowledged tag lives in the state store as the field `_tag:<name>` = True (None once it
was removed), so company and contact tags go through the same baseline as attribute values (sync/baseline.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

TAG_PREFIX = "_tag:"


def tag_fields(names: Iterable[str]) -> dict[str, bool]:
    """The fields of tags a record carries: `_tag:<name>` = True for each."""
    return {TAG_PREFIX + name: True for name in names}


def tagged(values: Mapping[str, Any]) -> set[str]:
    """The tag names that `values` (a record's fields) holds as set."""
    return {k.removeprefix(TAG_PREFIX) for k, v in values.items() if k.startswith(TAG_PREFIX) and v}
