"""The fingerprint of the scoring configuration: stable under key order and defaults, moved by any scoring value."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from healthsync.connector.settings import Settings, load_settings
from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.fingerprint import canonical, fingerprint, restored, stored

BASE: dict[str, Any] = {
    "window_days": 30,
    "weights": {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 5},
    "features": {"sequences": ["sequence_created", "lead_enrolled"], "meetings": ["meeting_scheduled"]},
    "tiers": {"healthy": 70, "at_risk": 30},
}


def _fp(values: dict[str, Any]) -> str:
    return fingerprint(ScoringConfig.model_validate(values))


def test_twelve_hex_characters_and_the_same_for_the_same_values() -> None:
    first = _fp(BASE)
    assert len(first) == 12
    assert int(first, 16) >= 0
    assert _fp(BASE) == first


def test_stable_under_key_order_number_spelling_and_written_out_defaults() -> None:
    reordered = {key: BASE[key] for key in reversed(list(BASE))}
    reordered["weights"] = dict(reversed(list(BASE["weights"].items())))
    assert _fp(reordered) == _fp(BASE)
    assert _fp({**BASE, "weights": {"lead_created": 9.0, "meeting_scheduled": 7.0, "call_logged": 5.0}}) == _fp(BASE)
    assert _fp({**BASE, "curve": 2, "default_weight": 0}) == _fp(BASE)  # the defaults, written out
    assert _fp({**BASE, "as_of": "2025-08-13T00:00:00Z"}) == _fp(BASE)  # when, not how


@pytest.mark.parametrize(
    "change",
    [
        {"weights": {"lead_created": 9, "meeting_scheduled": 7, "call_logged": 6}},
        {"weights": {"lead_created": 9, "meeting_scheduled": 7}},
        {"tiers": {"healthy": 75, "at_risk": 30}},
        {"window_days": 28},
        {"curve": 3},
        {"plays": {"churn_risk": {"days_since_active": 21}}},
    ],
)
def test_changes_when_a_scoring_value_changes(change: dict[str, Any]) -> None:
    assert _fp({**BASE, **change}) != _fp(BASE)


def test_unchanged_when_a_setting_outside_scoring_changes(tmp_path: Any) -> None:
    def settings(state: str, hubspot: bool) -> Settings:
        config = tmp_path / f"{hubspot}.yaml"
        destinations = {"hubspot": {"enabled": hubspot, "requests_per_10s": 50}}
        data = {"source": {"kind": "files", "events": "e.csv"}, "scoring": BASE, "state": {"url": state}}
        config.write_text(yaml.safe_dump({**data, "destinations": destinations}))
        return load_settings(config)

    one = settings("sqlite:///a.db", True)
    other = settings("sqlite:///b.db", False)
    assert fingerprint(one.scoring) == fingerprint(other.scoring) == _fp(BASE)


def test_the_stored_values_score_again_with_the_same_fingerprint() -> None:
    config = ScoringConfig.model_validate({**BASE, "as_of": "2025-08-13T00:00:00Z"})
    again = restored(stored(config), as_of=config.as_of)
    assert again == config
    assert canonical(again) == canonical(config)
