"""The fingerprint of a scoring configuration: which formula scored a run, in 12 hex characters.

    fingerprint(settings.scoring)   # "3f9a0c1b2d4e": sha256 of the canonical JSON, first 12 hex characters
    stored(settings.scoring)        # the whole configuration as JSON, to score again with it later

Canonical: the values that differ from their defaults (so writing a default out, or a healthsync release that
adds a setting with a default, does not change it), keys sorted, numbers as pydantic normalises them (`9` and
`9.0` are one weight). `as_of` is left out: it says when to score, not how.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from healthsync.scoring.config import ScoringConfig

LENGTH = 12
_NOT_THE_FORMULA = {"as_of"}


def canonical(config: ScoringConfig) -> str:
    """The configuration as canonical JSON: non-default values only, sorted keys, no whitespace."""
    values = config.model_dump(mode="json", exclude_defaults=True, exclude=_NOT_THE_FORMULA)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(config: ScoringConfig) -> str:
    return hashlib.sha256(canonical(config).encode("ascii")).hexdigest()[:LENGTH]


def stored(config: ScoringConfig) -> dict[str, Any]:
    """Every value (defaults included, as_of left out): scoring again with it is faithful across releases."""
    return config.model_dump(mode="json", exclude=_NOT_THE_FORMULA)


def restored(values: dict[str, Any], as_of: Any = None) -> ScoringConfig:
    """A stored configuration, validated again, scoring as of `as_of` (ValueError when this release refuses it)."""
    return ScoringConfig.model_validate({**values, "as_of": as_of})
