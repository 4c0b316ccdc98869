"""The score tables one run hands from the read-and-score pipeline to the destinations.

A module of its own, below both: `pipeline` builds a :class:`ScoreResult`, `sync` and the destinations take one,
and neither imports the other (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from healthsync.connector.sources.frames import TableReport
from healthsync.connector.sources.plan import ReadPlan


@dataclass
class ScoreResult:
    """The account table, the user table (when asked for), the input reports, the as_of used and the read plan
    that ran (its statements' rows and seconds)."""

    accounts: pd.DataFrame
    users: pd.DataFrame | None
    reports: dict[str, TableReport]
    as_of: datetime
    plan: ReadPlan | None = None
