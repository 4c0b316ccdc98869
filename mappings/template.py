"""A deliberately small, safe template language for task subjects and bodies: `{{ name }}` placeholders only.

No expressions, attribute access or code: a placeholder names a value (a score column, `play`, `reasons`,
`period`) and is replaced by its text. Unknown names are refused when the mapping is validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
STRAY = re.compile(r"\{\{|\}\}")


def placeholders(template: str) -> list[str]:
    """The names a template uses; ValueError for a malformed placeholder."""
    leftover = STRAY.search(PLACEHOLDER.sub("", template))
    if leftover:
        raise ValueError(
            f"malformed placeholder near {template[max(leftover.start() - 10, 0) : leftover.end() + 10]!r}"
        )
    return PLACEHOLDER.findall(template)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Replace every `{{ name }}` with the text of `values[name]` (empty when missing)."""
    return PLACEHOLDER.sub(lambda match: _text(values.get(match.group(1))), template)
