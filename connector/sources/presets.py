"""Presets (`source.preset`): the event exports of PostHog, Amplitude and Mixpanel read as they arrive.

A preset is the events column mapping of one export layout, plus what a mapping alone cannot say: which of its
columns are paths into a JSON object, which hold epoch seconds, and which key marks a duplicate row. It applies to
the events file of a `files` source; the accounts and users files keep the plain layout (`source.columns` maps
them as ever). `preset: segment` is the `segment` kind (`segment.py`), nothing here.

    preset     account_id                   user_id                 event       timestamp
    posthog    properties.$groups.company   distinct_id             event       timestamp
    amplitude  groups.company               user_id                 event_type  event_time
    mixpanel   properties.company_id        properties.distinct_id  event       properties.time (epoch seconds)

    preset     a duplicate: the same ...                                  skipped as
    posthog    uuid                                                       duplicate_uuid
    amplitude  $insert_id                                                 duplicate_insert_id
    mixpanel   event, distinct_id, time and properties.$insert_id         duplicate_insert_id

A name with a dot is a path: its first part a column of the file, the rest keys into the JSON object it holds
(`properties.$groups.company`); a JSON string column (PostHog's Parquet `properties`) is read the same way. A path
that ends at a list of one value gives that value; a list of several values, an object or JSON null give no value
(a row without an account is rejected as `missing_account_id`, as in the plain layout). `source.columns.events`
overrides a preset's mapping column by column (another group type: `account_id: properties.$groups.organization`;
PostHog's `$group_0` column where the export has it: `account_id: $group_0`).

Duplicates (a second row with the preset's key) are dropped before scoring and counted as *skipped* under the
preset's reason, not rejected: each vendor keys its events for deduplication, so a repeated key is one event
delivered twice, not bad input (read = accepted + skipped + rejected; `source.max_rejected_share` counts only the
rejected). The key is the read's `event_id` (`pushdown.classified`): the earliest row of each key is kept.

Sources (read 2026):
- PostHog batch exports, S3 events model (https://posthog.com/docs/data-pipelines/batch-exports/s3): `uuid`,
  `event`, `distinct_id`, `person_id`, `properties` (a JSON string in Parquet, a nested object in JSON lines),
  `timestamp` (UTC, microseconds; an ISO 8601 string in JSON lines); "Each event is uniquely identified by a UUID
  that can be used for de-duplication" (https://posthog.com/docs/cdp/batch-exports). Groups: the `$groups` event
  property, group type -> key (https://posthog.com/docs/product-analytics/group-analytics).
- Amplitude Export API (https://amplitude.com/docs/apis/analytics/export): JSON lines, one event per line, with
  `event_time` (UTC), `user_id`, `event_type`, `$insert_id`, `groups`. The insert id is `$insert_id` where the
  HTTP and Batch APIs say `insert_id`, and Amplitude deduplicates events sent with the same one within 7 days
  (https://amplitude.com/docs/data/data-backfill).
- Mixpanel Raw Event Export API (https://docs.mixpanel.com/docs/export-methods,
  https://developer.mixpanel.com/reference/raw-data-export-api): JSON lines `{"event": ..., "properties": {"time":
  <epoch seconds>, "distinct_id": ..., "$insert_id": ..., ...}}`; "deduplication is not applied to raw data
  exports ... apply deduplication logic (event name, distinct_id, timestamp, $insert_id)". Group keys are event
  properties (https://docs.mixpanel.com/docs/data-structure/group-analytics).

Guesses (undocumented; the conservative reading, each overridable through `source.columns.events`):
- The account is the group type `company` (PostHog, Amplitude) and the group key `company_id` (Mixpanel): the
  examples of each vendor's docs; a project's own group type is its own choice.
- Amplitude's `groups` values may be a string or a list (the HTTP API accepts both); a list of several groups
  names no one account and is not split between them.
- The user is PostHog's `distinct_id` as sent, not `person_id` (an internal id no users table holds): events
  captured before `identify` carry an anonymous id that matches no user.
- Mixpanel's `time` is read as UTC epoch seconds (the default; `time_in_ms=true` exports milliseconds, which read
  as instants far in the future and are rejected as `future_timestamp`). Projects created before 2023 with a
  legacy project time zone are not corrected.
- Amplitude's `event_time` ("2024-01-01 12:00:00.123456", no offset) is UTC, as the Export API says of its
  timestamps; events without `$insert_id` are never duplicates (Amplitude's own window is 7 days; here it is
  the whole file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from healthsync.connector.settings import SourceConfig
from healthsync.connector.sources.files import Projection
from healthsync.connector.sources.frames import TableReport
from healthsync.connector.sources.pushdown import EVENT_COLUMNS
from healthsync.errors import SourceError

EVENT_ID = "event_id"
LOGICAL = (*EVENT_COLUMNS, EVENT_ID)
# An epoch-seconds value beyond this is not an instant DuckDB can hold (year 294247): no value, not an error.
MAX_EPOCH_SECONDS = 9e12
_SEPARATOR = "chr(31)"  # the ASCII unit separator between the parts of a composite duplicate key


@dataclass(frozen=True)
class Preset:
    """One export layout: the events column of each logical column (a column or a path into a JSON column), the
    logical columns it gives in epoch seconds, the other logical columns that with `event_id` make the duplicate
    key, and the reason its duplicates are skipped under."""

    name: str
    columns: Mapping[str, str]
    duplicate_reason: str
    epoch_seconds: frozenset[str] = field(default_factory=frozenset)
    dedupe_with: tuple[str, ...] = ()


PRESETS: dict[str, Preset] = {
    "posthog": Preset(
        "posthog",
        {
            "account_id": "properties.$groups.company",
            "user_id": "distinct_id",
            "event": "event",
            "timestamp": "timestamp",
            EVENT_ID: "uuid",
        },
        duplicate_reason="duplicate_uuid",
    ),
    "amplitude": Preset(
        "amplitude",
        {
            "account_id": "groups.company",
            "user_id": "user_id",
            "event": "event_type",
            "timestamp": "event_time",
            EVENT_ID: "$insert_id",
        },
        duplicate_reason="duplicate_insert_id",
    ),
    "mixpanel": Preset(
        "mixpanel",
        {
            "account_id": "properties.company_id",
            "user_id": "properties.distinct_id",
            "event": "event",
            "timestamp": "properties.time",
            EVENT_ID: "properties.$insert_id",
        },
        duplicate_reason="duplicate_insert_id",
        epoch_seconds=frozenset({"timestamp"}),
        dedupe_with=("event", "user_id", "timestamp"),
    ),
}


def preset_of(source: SourceConfig) -> Preset | None:
    """The preset of the source's events file (None without one, and for `segment`: a kind of its own)."""
    return PRESETS.get(source.preset or "")


def events_mapping(source: SourceConfig) -> dict[str, str]:
    """The mapping `logical_table` applies to the events table: the user's, or none where a preset's view already
    names its columns logically."""
    return {} if preset_of(source) is not None else dict(source.columns.events)


def path_parts(name: str) -> tuple[str, tuple[str, ...]]:
    """`properties.$groups.company` -> (`properties`, (`$groups`, `company`)); a name without a dot is a column."""
    head, *keys = name.split(".")
    return head, tuple(keys)


def quoted(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def json_path(keys: Sequence[str]) -> str:
    """The JSON path of `keys`, each quoted (`$."$groups"."company"`), as a SQL string literal."""
    return _literal("$" + "".join('."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"' for key in keys))


def value_expression(name: str) -> str:
    """The DuckDB expression of a column or a path: a path gives its text when it ends at a scalar, or at a list
    of exactly one scalar; nothing (NULL) at a longer list, an object, JSON null or an empty string."""
    head, keys = path_parts(name)
    if not keys:
        return quoted(head)
    column, path = quoted(head), json_path(keys)
    first = json_path(keys)[:-1] + "[0]'"  # the list's first element
    scalar = f"json_extract_string({column}, {path})"
    single = f"CASE WHEN json_array_length({column}, {path}) = 1 THEN json_extract_string({column}, {first}) END"
    kind = f"json_type({column}, {path})"
    return f"NULLIF(CASE {kind} WHEN 'ARRAY' THEN {single} WHEN 'OBJECT' THEN NULL ELSE {scalar} END, '')"


def epoch_expression(value: str) -> str:
    """Epoch seconds (a number, or text of one) as a UTC instant; NULL when it is not a number DuckDB can hold."""
    seconds = f"TRY_CAST({value} AS DOUBLE)"
    bounded = f"isfinite({seconds}) AND abs({seconds}) < {MAX_EPOCH_SECONDS:.0f}"
    return f"CASE WHEN {bounded} THEN to_timestamp({seconds}) END"


def mapping(preset: Preset, overrides: Mapping[str, str], label: str) -> dict[str, str]:
    """The preset's events columns with the user's `source.columns.events` over them."""
    for logical in overrides:
        if logical not in LOGICAL:
            raise SourceError(
                f"{label}: source.columns.events.{logical}: events has no logical column {logical!r} "
                f"(expected one of {', '.join(LOGICAL)})"
            )
    return {**preset.columns, **overrides}


def json_columns(columns: Mapping[str, str]) -> frozenset[str]:
    """The columns the paths of a mapping look into (read as JSON)."""
    return frozenset(path_parts(name)[0] for name in columns.values() if path_parts(name)[1])


def select_list(
    preset: Preset, columns: Mapping[str, str], overrides: Mapping[str, str], available: Sequence[str], label: str
) -> str:
    """The SELECT list of the events view: each logical column from its column or path, under its logical name.

    A required column (or one the user mapped) whose file column is missing is a SourceError naming the key;
    a preset's event_id whose column is missing is left out (no row is then a duplicate)."""
    expressions: dict[str, str] = {}
    for logical in LOGICAL:
        name = columns[logical]
        head, _ = path_parts(name)
        if head not in available:
            if logical == EVENT_ID and logical not in overrides:
                continue
            key = f"source.columns.events.{logical}" if logical in overrides else f"preset {preset.name}: {logical}"
            raise SourceError(
                f"{label}: {key}: column {head!r} of {name!r} not found (columns: {', '.join(available)})"
            )
        value = value_expression(name)
        expressions[logical] = epoch_expression(value) if logical in preset.epoch_seconds else value
    if EVENT_ID in expressions and preset.dedupe_with:
        parts = ", ".join(f"CAST({expressions[logical]} AS VARCHAR)" for logical in preset.dedupe_with)
        key = expressions[EVENT_ID]
        expressions[EVENT_ID] = f"CASE WHEN {key} IS NOT NULL THEN concat_ws({_SEPARATOR}, {key}, {parts}) END"
    return ", ".join(f"{expression} AS {quoted(logical)}" for logical, expression in expressions.items())


def projection(source: SourceConfig, label: str) -> tuple[dict[str, str], Projection | None]:
    """The events mapping `files.file_view` reads the file with, and the preset's view over it (None: no preset)."""
    preset = preset_of(source)
    overrides = dict(source.columns.events)
    if preset is None:
        return overrides, None
    columns = mapping(preset, overrides, label)
    view = Projection(
        select=lambda available: select_list(preset, columns, overrides, available, label),
        json_columns=json_columns(columns),
    )
    return columns, view


def skipped_duplicates(report: TableReport, source: SourceConfig) -> TableReport:
    """The events report with the duplicates of a preset's key moved from rejected to skipped (its reason)."""
    preset = preset_of(source)
    count = report.rejected.get("duplicate_event_id", 0)
    if preset is None or not count:
        return report
    rejected = {reason: n for reason, n in report.rejected.items() if reason != "duplicate_event_id"}
    samples = {reason: rows for reason, rows in report.samples.items() if reason != "duplicate_event_id"}
    skipped = {**report.skipped, preset.duplicate_reason: report.skipped.get(preset.duplicate_reason, 0) + count}
    return replace(report, rejected=rejected, samples=samples, skipped=skipped)
