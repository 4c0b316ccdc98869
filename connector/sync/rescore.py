"""A scoring-configuration change told apart from a data change: this run's data scored again with the earlier
configuration, and the accounts whose tier differs between the two.

    current = Scoring.of(settings.scoring)                  # fingerprint + values of this run's configuration
    rescore = Rescorer(score, scores.as_of)                 # score: a configuration -> this run's account table
    old = rescore(previous)                                 # the account table under the previous configuration
    moved = tier_moves(scores.accounts, old)                # accounts the configuration moved, not their usage

Both tables score the same data as of the same instant, so an account whose usage moved it is never blamed on the
configuration. The source is read again with the previous configuration (its window, events and features shape the
aggregation), once per configuration and run: the engine passes that read-and-score as `score`, so that `sync`
never imports the pipeline (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.fingerprint import fingerprint, restored, stored
from healthsync.state import ScoringRecord

log = logging.getLogger("healthsync")


@dataclass(frozen=True)
class Scoring:
    """One scoring configuration: its fingerprint and its values (as stored)."""

    fingerprint: str
    config: dict[str, Any]

    @classmethod
    def of(cls, config: ScoringConfig) -> Scoring:
        return cls(fingerprint(config), stored(config))

    @classmethod
    def recorded(cls, record: ScoringRecord) -> Scoring:
        return cls(record.fingerprint, record.config)


@dataclass(frozen=True)
class ConfigChange:
    """The scoring configuration changed since `previous_run`; `moved` None: the old one can't be scored any more."""

    previous: str
    current: str
    previous_run: int | None
    moved: tuple[str, ...] | None

    def describe(self) -> str:
        since = f" since run {self.previous_run}" if self.previous_run is not None else ""
        head = f"scoring configuration changed{since} ({self.previous} -> {self.current})"
        if self.moved is None:
            return f"{head}: the previous configuration is not valid in this release; tier moves not counted"
        count = len(self.moved)
        return f"{head}: {count} {'account' if count == 1 else 'accounts'} move tier because of it"

    def as_dict(self) -> dict[str, Any]:
        moved = None if self.moved is None else len(self.moved)
        return {
            "previous_fingerprint": self.previous,
            "fingerprint": self.current,
            "previous_run": self.previous_run,
            "accounts_moving_tier": moved,
            "accounts": list(self.moved or ()),
        }


def tier_moves(new: pd.DataFrame, old: pd.DataFrame) -> tuple[str, ...]:
    """The accounts (sorted) whose tier differs between two account tables of the same data."""
    before = dict(zip(old["account_id"].astype(str), old["health_tier"].astype(str), strict=True))
    after = zip(new["account_id"].astype(str), new["health_tier"].astype(str), strict=True)
    return tuple(sorted(key for key, tier in after if key in before and before[key] != tier))


class Rescorer:
    """Scores this run's data again with an earlier configuration (as of the run's instant), once per fingerprint;
    `score` is the run's read-and-score under a given configuration (its account table)."""

    def __init__(self, score: Callable[[ScoringConfig], pd.DataFrame], as_of: datetime) -> None:
        self._score_with = score
        self._as_of = as_of
        self._tables: dict[str, pd.DataFrame | None] = {}

    def __call__(self, previous: Scoring) -> pd.DataFrame | None:
        """The account table under `previous`; None when this release no longer accepts that configuration."""
        if previous.fingerprint not in self._tables:
            self._tables[previous.fingerprint] = self._score(previous)
        return self._tables[previous.fingerprint]

    def _score(self, previous: Scoring) -> pd.DataFrame | None:
        try:
            config = restored(previous.config, as_of=self._as_of)
        except ValueError as exc:
            log.warning(f"the scoring configuration {previous.fingerprint} is not valid in this release: {exc}")
            return None
        log.info(f"scoring again with the previous scoring configuration {previous.fingerprint}")
        return self._score_with(config)

    def change(self, current: Scoring, new: pd.DataFrame, record: ScoringRecord | None) -> ConfigChange | None:
        """What the change since `record` (the previous run's configuration) does to the tiers; None: no change."""
        if record is None or record.fingerprint == current.fingerprint:
            return None
        old = self(Scoring.recorded(record))
        moved = None if old is None else tier_moves(new, old)
        return ConfigChange(record.fingerprint, current.fingerprint, record.run_id, moved)
