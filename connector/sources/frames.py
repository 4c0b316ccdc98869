"""The pandas side of reading a source: validated entity frames, typed activity frames, and the input reports.

Accounts and users are small: they are read whole and validated here. Events never come here row by row; only the
aggregated rows of `pushdown.activity_query` do.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from healthsync.connector.records import plain
from healthsync.connector.sources.pushdown import EVENT_REASONS
from healthsync.scoring import in_key_order
from healthsync.scoring.config import ScoringConfig

UTC_DTYPE: Final = "datetime64[us, UTC]"
ACCOUNT_COLUMNS = ("account_id", "name", "domain", "plan", "status", "created_at", "seats_limit")
USER_COLUMNS = ("user_id", "account_id", "email", "role", "created_at")
COUNTS = ("events", "events_prev", "active_users", "active_users_prev", "active_days", "active_days_7d")
PLAY_COUNTS = ("trial_events", "active_weeks")


@dataclass
class TableReport:
    """Rows read, accepted, skipped (per reason: duplicates an export layout documents, `presets.py`) and rejected
    (per reason, with sample rows) for one logical table, and the values of accepted rows that were nulled because
    they could not be used (per reason, with samples). read = accepted + skipped + rejected."""

    name: str
    read: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    nulled: dict[str, int] = field(default_factory=dict)
    nulled_samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def rejected_share(self) -> float:
        return self.rejected_total / self.read if self.read else 0.0

    def top_reasons(self, count: int) -> list[tuple[str, int]]:
        return sorted(self.rejected.items(), key=lambda item: -item[1])[:count]

    def add_rejects(self, counts: Mapping[str, int], samples: Mapping[str, list[dict[str, Any]]], limit: int) -> None:
        """Rows rejected before they reached the table (unreadable lines of a file): read and rejected both grow."""
        for reason, count in counts.items():
            self.read += count
            self.rejected[reason] = self.rejected.get(reason, 0) + count
            self.samples[reason] = [*self.samples.get(reason, []), *samples.get(reason, [])][:limit]

    def render(self) -> str:
        """A plain-text report: totals, then each rejection reason with its sample rows, then nulled values."""
        skipped = f"skipped {self.skipped_total}, " if self.skipped else ""
        lines = [
            f"{self.name}: read {self.read}, accepted {self.accepted}, {skipped}"
            f"rejected {self.rejected_total} ({self.rejected_share:.1%})"
        ]
        lines += [f"  {reason}: {count} skipped" for reason, count in self.skipped.items()]
        for reason, count in self.rejected.items():
            lines.append(f"  {reason}: {count}")
            lines += [f"    {_render_row(row)}" for row in self.samples.get(reason, [])]
        for reason, count in self.nulled.items():
            lines.append(f"  {reason}: {count} value(s) nulled")
            lines += [f"    {_render_row(row)}" for row in self.nulled_samples.get(reason, [])]
        return "\n".join(lines)

    def log(self, logger: logging.Logger) -> None:
        """The report as log lines: totals at INFO, each rejection reason and each nulled-value reason (with their
        samples) at WARNING; JSON logs carry the table, reason, count and samples as fields."""
        totals = {"table": self.name, "read": self.read, "accepted": self.accepted, "rejected": dict(self.rejected)}
        skipped = "".join(f", skipped {count} ({reason})" for reason, count in self.skipped.items())
        logger.info(
            "%s: read %d, accepted %d, rejected %d%s",
            self.name,
            self.read,
            self.accepted,
            self.rejected_total,
            skipped,
            extra=totals | {"nulled": dict(self.nulled), "skipped": dict(self.skipped)},
        )
        for kind, counts, samples in (
            ("rows rejected", self.rejected, self.samples),
            ("values nulled", self.nulled, self.nulled_samples),
        ):
            for reason, count in counts.items():
                rows = samples.get(reason, [])
                shown = "; ".join(_render_row(row) for row in rows) or "-"
                fields = {"table": self.name, "reason": reason, "count": count, "samples": rows, "kind": kind}
                logger.warning("%s: %d %s: %s (e.g. %s)", self.name, count, kind, reason, shown, extra=fields)


def _render_row(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in row.items())


def sample_values(rows: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    return [{str(key): plain(value) for key, value in row.items()} for row in rows]


def ids(values: pd.Series) -> pd.Series:
    """Identifiers as text (integral floats without `.0`); missing and empty ids become NaN, on every pandas (2.2
    turns None into the text "None" on astype(str))."""
    if pd.api.types.is_float_dtype(values.dtype):
        values = values.astype("Int64")
    missing = values.isna()
    text = values.astype("str")
    return text.where(~missing & (text.str.strip() != ""))


def utc(values: pd.Series) -> pd.Series:
    """Instants as datetime64 UTC; naive values are UTC; what does not parse becomes NaT."""
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601").astype(UTC_DTYPE)


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _given(values: pd.Series) -> pd.Series:
    """Whether a value was given at all (not null, not empty text). Only text can be empty: a typed column (a
    timestamp, a number) is not formatted as text to find out (10,000 timestamps cost 0.1 s)."""
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)):
        return values.notna()
    return values.notna() & (values.astype("str").str.strip() != "")


def _reject(
    frame: pd.DataFrame, name: str, rules: Sequence[tuple[str, pd.Series]], sample_rows: int
) -> tuple[pd.DataFrame, TableReport]:
    """Apply the rules in order (a row counts under its first matching reason); keep the rows none matched."""
    reason = pd.Series(None, index=frame.index, dtype="object")
    for label, mask in rules:
        reason = reason.where(reason.notna() | ~mask.fillna(False).astype(bool), label)
    report = TableReport(name=name, read=len(frame), accepted=int(reason.isna().sum()))
    for label, _ in rules:
        hits = frame[reason == label]
        if len(hits):
            report.rejected[label] = len(hits)
            report.samples[label] = sample_values(hits.head(sample_rows).to_dict("records"))
    return frame[reason.isna()], report


def _null_invalid(
    frame: pd.DataFrame,
    column: str,
    typed: pd.Series,
    rules: Sequence[tuple[str, pd.Series]],
    report: TableReport,
    sample_rows: int,
) -> pd.Series:
    """`typed` with the values matched by a rule nulled, each counted under its first matching reason."""
    taken = pd.Series(False, index=frame.index)
    for label, mask in rules:
        hits = mask.fillna(False).astype(bool) & ~taken
        taken |= hits
        if hits.any():
            report.nulled[label] = int(hits.sum())
            rows = frame.loc[hits, ["account_id", column]].head(sample_rows)
            report.nulled_samples[label] = sample_values(rows.to_dict("records"))
    return typed.where(~taken)


def _account_values(kept: pd.DataFrame, report: TableReport, sample_rows: int, as_of: float) -> pd.DataFrame:
    """Typed created_at, seats_limit and mrr; unusable values nulled with a counted reason (the account stays)."""
    created = utc(kept["created_at"])
    seats = _numbers(kept["seats_limit"])
    values = {
        "created_at": _null_invalid(
            kept,
            "created_at",
            created,
            [
                ("invalid_created_at", _given(kept["created_at"]) & created.isna()),
                ("future_created_at", created > pd.Timestamp(as_of, unit="s", tz="UTC")),
            ],
            report,
            sample_rows,
        ),
        "seats_limit": _null_invalid(
            kept,
            "seats_limit",
            seats,
            [
                ("invalid_seats_limit", _given(kept["seats_limit"]) & ~np.isfinite(seats.fillna(np.inf))),
                ("negative_seats_limit", seats < 0),
                ("fractional_seats_limit", seats.notna() & (seats != seats.round())),
            ],
            report,
            sample_rows,
        ),
    }
    if "mrr" in kept.columns:
        mrr = _numbers(kept["mrr"])
        values["mrr"] = _null_invalid(
            kept,
            "mrr",
            mrr,
            [
                ("invalid_mrr", _given(kept["mrr"]) & ~np.isfinite(mrr.fillna(np.inf))),
                ("negative_mrr", mrr < 0),
            ],
            report,
            sample_rows,
        )
    return kept.assign(**values)


def accounts_frame(frame: pd.DataFrame, sample_rows: int, as_of: float) -> tuple[pd.DataFrame, TableReport]:
    """Accepted accounts (first row of each id) with typed columns, and the accounts report."""
    frame = frame.assign(account_id=ids(frame["account_id"]))
    missing = frame["account_id"].isna()
    duplicate = frame["account_id"].duplicated(keep="first") & ~missing
    kept, report = _reject(
        frame, "accounts", [("missing_account_id", missing), ("duplicate_account_id", duplicate)], sample_rows
    )
    kept = _account_values(_with_columns(kept, ACCOUNT_COLUMNS), report, sample_rows, as_of)
    return in_key_order(kept, ["account_id"]).reset_index(drop=True), report


def users_frame(
    frame: pd.DataFrame, sample_rows: int, accounts: pd.DataFrame, rejected_accounts: Collection[str] = ()
) -> tuple[pd.DataFrame, TableReport]:
    """Accepted users (first row of each id, of a known account) with typed columns, and the users report.

    A user of an account whose row was itself rejected (`rejected_accounts`, e.g. a line that did not decode) is
    rejected as `account_rejected`, not as `unknown_account`."""
    frame = frame.assign(user_id=ids(frame["user_id"]), account_id=ids(frame["account_id"]))
    missing_user = frame["user_id"].isna()
    missing_account = frame["account_id"].isna()
    duplicate = frame["user_id"].duplicated(keep="first") & ~missing_user & ~missing_account
    unknown = ~_isin(frame["account_id"], accounts["account_id"]) & ~missing_account
    of_rejected = unknown & frame["account_id"].isin(list(rejected_accounts))
    rules = [
        ("missing_user_id", missing_user),
        ("missing_account_id", missing_account),
        ("duplicate_user_id", duplicate),
        ("account_rejected", of_rejected),
        ("unknown_account", unknown & ~of_rejected),
    ]
    kept, report = _reject(frame, "users", rules, sample_rows)
    kept = _with_columns(kept, USER_COLUMNS)
    kept = kept.assign(created_at=utc(kept["created_at"]))
    return in_key_order(kept, ["account_id", "user_id"]).reset_index(drop=True), report


def _isin(values: pd.Series, among: pd.Series) -> pd.Series:
    """`values.isin(among)`; for two Arrow text columns Arrow's lookup on the columns as they are (pandas turns
    `among` into Python strings first)."""
    if isinstance(values.array, pd.arrays.ArrowStringArray) and isinstance(among.array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        found = pc.is_in(pa.array(values.array), value_set=pa.array(among.array))
        return pd.Series(np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool), index=values.index)
    return values.isin(among)


def _with_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The logical columns first (missing optional ones as empty), then the extra columns."""
    missing = {name: pd.Series(None, index=frame.index, dtype="object") for name in columns if name not in frame}
    frame = frame.assign(**missing)
    extras = [name for name in frame.columns if name not in columns]
    return frame[[*columns, *extras]]


def reason_counts(name: str, raw: pd.DataFrame) -> TableReport:
    """The report of the event aggregation: read, accepted and rejected rows by reason (in precedence order)."""
    counts = raw.groupby(raw["reason"].fillna(""), sort=False)["n_rows"].sum()
    total = {str(reason): int(count) for reason, count in counts.items()}
    accepted = total.pop("", 0)
    if "duplicates" in raw:  # GROUP BY dedup: the duplicates folded into each kept row
        folded = int(pd.to_numeric(raw["duplicates"], errors="coerce").fillna(0).sum())
        total["duplicate_event_id"] = total.get("duplicate_event_id", 0) + folded
    rejected = {reason: total[reason] for reason in EVENT_REASONS if total.get(reason)}
    return TableReport(name=name, read=accepted + sum(rejected.values()), accepted=accepted, rejected=rejected)


def activity_frame(raw: pd.DataFrame, config: ScoringConfig, *, by_user: bool) -> pd.DataFrame:
    """Typed activity rows of accepted events: one per account (or per account and user), sorted by id."""
    frame = raw[raw["reason"].isna()].drop(columns=["reason", "n_rows", "duplicates"], errors="ignore")
    keys = ["account_id", "user_id"] if by_user else ["account_id"]
    typed: dict[str, pd.Series] = {key: ids(frame[key]) for key in keys}
    for name in COUNTS:
        if name in frame:
            typed[name] = _counts(frame[name])
    typed["raw"] = _numbers(frame["raw"]).fillna(0.0)
    typed["raw_prev"] = _numbers(frame["raw_prev"]).fillna(0.0)
    epoch = (_numbers(frame["last_active_epoch"]) * 1e6).round()
    typed["last_active_at"] = pd.to_datetime(epoch, unit="us", utc=True).astype(UTC_DTYPE)
    for index, feature in enumerate(config.features):
        typed[f"feature__{feature}"] = _counts(frame[f"feature_{index}"])
    for index in range(len(config.activation_steps)):
        typed[f"step__{index}"] = _counts(frame[f"step_{index}"])
    typed |= _play_counts(frame, config)
    for index, event in enumerate(sorted(config.weights)):
        for part, label in (("evw", "count__"), ("evp", "count_prev__")):
            if f"{part}_{index}" in frame:
                typed[f"{label}{event}"] = _counts(frame[f"{part}_{index}"])
    if "activated_epoch" in frame:
        moment = (_numbers(frame["activated_epoch"]) * 1e6).round()
        typed["activated_at"] = pd.to_datetime(moment, unit="us", utc=True).astype(UTC_DTYPE)
    order = [*keys, "events", "events_prev", "raw", "raw_prev"]
    order += [] if by_user else ["active_users", "active_users_prev"]
    order += ["active_days", "active_days_7d", "last_active_at"]
    order += [name for name in typed if name.startswith(("feature__", "step__"))]
    order += [name for name in PLAY_COUNTS if name in typed]
    order += [name for name in typed if name.startswith(("share_num__", "share_den__", "workflow__"))]
    order += [name for name in typed if name.startswith(("count__", "count_prev__", "activated_at"))]
    result = pd.DataFrame({name: typed[name] for name in order}, index=frame.index)
    return in_key_order(result, keys).reset_index(drop=True)


def _play_counts(frame: pd.DataFrame, config: ScoringConfig) -> dict[str, pd.Series]:
    """The counts the plays, personas and summaries read, under their scoring names (only those queried)."""
    typed = {name: _counts(frame[name]) for name in PLAY_COUNTS if name in frame}
    for index, name in enumerate(config.shares):
        for part in ("num", "den"):
            if f"share_{part}_{index}" in frame:
                typed[f"share_{part}__{name}"] = _counts(frame[f"share_{part}_{index}"])
    for index in range(len(config.workflows())):
        if f"workflow_{index}" in frame:
            typed[f"workflow__{index}"] = _counts(frame[f"workflow_{index}"])
    return typed


def _counts(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")
