"""The score tables one run hands from the read-and-score pipeline to the destinations.

A module of its own, below both: `pipeline` builds a :class:`ScoreResult`, `sync` and the destinations take one,
and neither imports the other (docs/architecture.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from healthsync.connector.records import rows_by_key
from healthsync.connector.sources.frames import TableReport
from healthsync.connector.sources.plan import ReadPlan

_ROWS = threading.Lock()  # one process builds one run's rows at a time (a lock in the instance could not be copied)


@dataclass
class ScoreResult:
    """The account table, the user table (when asked for), the input reports, the as_of used and the read plan
    that ran (its statements' rows and seconds)."""

    accounts: pd.DataFrame
    users: pd.DataFrame | None
    reports: dict[str, TableReport]
    as_of: datetime
    plan: ReadPlan | None = None
    _rows: dict[str, dict[str, Any]] | None = field(default=None, init=False, repr=False, compare=False)

    def account_rows(self) -> dict[str, dict[str, Any]]:
        """account id -> the account's row as plain values (connector/records.py), built once and shared by the
        destinations, which only read it (issue 25, item 3: 161 MiB at 100,000 accounts, held by each
        destination's plan until this was shared)."""
        with _ROWS:  # HubSpot and Intercom plan at the same time
            if self._rows is None:
                self._rows = rows_by_key(self.accounts, "account_id")
            return self._rows
