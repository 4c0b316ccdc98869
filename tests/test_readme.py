"""The README's configuration reference is true to the code: every key documented exists, every key is documented."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from healthsync.connector.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
SKIPPED = {"config_dir", "config_file"}  # set by the loader from the config file's location, not a key of the file
WHOLE = {"source.columns", "scoring.tiers", "scoring.trend"}  # small nested values documented as one key


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if name in SKIPPED:
            continue
        key = prefix + (field.alias or name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and key not in WHOLE:
            keys |= _keys(annotation, key + ".")
        else:
            keys.add(key)
    return keys


def _documented() -> set[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- config-reference:start -->", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_.]+)` \|", block, flags=re.M))


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    code = _keys(Settings)
    documented = _documented()
    assert code - documented == set(), "keys missing from the README"
    assert documented - code == set(), "README documents keys the code does not have"
