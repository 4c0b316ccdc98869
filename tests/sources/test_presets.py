"""Presets (`source.preset`): each sample export in examples/presets/ scores with no mapping written by hand, the
same as its events in the plain layout; duplicates are skipped under the preset's reason (read = accepted + skipped
+ rejected); `source.columns.events` overrides a preset; the path and epoch expressions hold value by value."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from healthsync.connector.cli import cli
from healthsync.connector.settings import SourceConfig, TableColumns, load_settings
from healthsync.connector.sources.frames import TableReport
from healthsync.connector.sources.load import SourceData, load_source
from healthsync.connector.sources.presets import (
    PRESETS,
    epoch_expression,
    json_path,
    path_parts,
    skipped_duplicates,
    value_expression,
)
from healthsync.errors import ConfigError, SourceError
from tests.paths import EXAMPLES
from tests.statements import statements

SAMPLES = EXAMPLES / "presets"
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
# What each sample holds besides its 59 usable events (examples/presets/generate.py).
EXPECTED = {
    "posthog": {"skipped": {"duplicate_uuid": 1}, "rejected": {"missing_account_id": 1}},
    "amplitude": {"skipped": {"duplicate_insert_id": 3}, "rejected": {"missing_user_id": 1}},
    "mixpanel": {"skipped": {"duplicate_insert_id": 1}, "rejected": {"missing_account_id": 1}},
}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _one(value: Any) -> Any:
    """A group given as a list of one is that one."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


# Each export read by hand into the plain layout (event_id: the key the preset deduplicates on).
def _posthog_row(row: dict[str, Any]) -> dict[str, Any]:
    account = row["properties"].get("$groups", {}).get("company")
    stamp = _iso(datetime.fromisoformat(row["timestamp"]))
    return {"event_id": row["uuid"], "account_id": account, "user_id": row["distinct_id"], "event": row["event"]} | {
        "timestamp": stamp
    }


def _amplitude_row(row: dict[str, Any]) -> dict[str, Any]:
    stamp = _iso(datetime.strptime(row["event_time"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC))
    account = _one(row["groups"].get("company"))
    return {
        "event_id": row["$insert_id"],
        "account_id": account,
        "user_id": row["user_id"],
        "event": row["event_type"],
    } | {"timestamp": stamp}


def _mixpanel_row(row: dict[str, Any]) -> dict[str, Any]:
    props = row["properties"]
    key = "|".join(str(part) for part in (row["event"], props["distinct_id"], props["time"], props["$insert_id"]))
    stamp = _iso(datetime.fromtimestamp(props["time"], UTC))
    account = _one(props.get("company_id"))
    return {"event_id": key, "account_id": account, "user_id": props["distinct_id"], "event": row["event"]} | {
        "timestamp": stamp
    }


PLAIN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "posthog": _posthog_row,
    "amplitude": _amplitude_row,
    "mixpanel": _mixpanel_row,
}


def _plain_config(preset: str, folder: Path) -> Path:
    """The sample's events in the plain layout (a CSV file, read by hand above) with the sample's scoring."""
    rows = [PLAIN[preset](row) for row in _lines(SAMPLES / preset / "events.jsonl")]
    with (folder / "events.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["event_id", "account_id", "user_id", "event", "timestamp"])
        writer.writeheader()
        writer.writerows(rows)
    config = yaml.safe_load((SAMPLES / preset / "healthsync.yaml").read_text())
    config["source"] = {
        "kind": "files",
        "events": "events.csv",
        "accounts": str(SAMPLES / "accounts.csv"),
        "users": str(SAMPLES / "users.csv"),
    }
    path = folder / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _score(config: Path, out: Path) -> list[dict[str, Any]]:
    # Into a file: click 8.1's CliRunner mixes stderr (the log lines) into result.stdout, 8.2's does not.
    result = CliRunner().invoke(cli, ["score", "--config", str(config), "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return list(json.loads(out.read_text()))


def _read(config: Path, **source: Any) -> SourceData:
    settings = load_settings(config)
    if source:
        settings = settings.model_copy(update={"source": settings.source.model_copy(update=source)})
    return load_source(settings, AS_OF, AS_OF, with_users=False)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_sample_export_scores_as_its_events_in_the_plain_layout(preset: str, tmp_path: Path) -> None:
    scored = _score(SAMPLES / preset / "healthsync.yaml", tmp_path / "preset.json")
    plain = _score(_plain_config(preset, tmp_path), tmp_path / "plain.json")
    assert [row["account_id"] for row in scored] == ["acc_acme", "acc_globex", "acc_initech"]
    assert scored == plain
    assert all(row["active_users"] > 0 for row in scored)  # every account's events reached it


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_duplicates_are_skipped_under_the_presets_reason_and_the_counts_add_up(preset: str, tmp_path: Path) -> None:
    events = _read(SAMPLES / preset / "healthsync.yaml").reports["events"]
    assert events.skipped == EXPECTED[preset]["skipped"]
    assert events.rejected == EXPECTED[preset]["rejected"]
    assert events.accepted == 59
    assert events.read == len(_lines(SAMPLES / preset / "events.jsonl"))
    assert events.accepted + events.skipped_total + events.rejected_total == events.read
    # The same rows in the plain layout: the duplicates are rejected there, as ever.
    plain = _read(_plain_config(preset, tmp_path)).reports["events"]
    assert plain.rejected["duplicate_event_id"] == events.skipped_total
    assert (plain.read, plain.accepted, plain.skipped) == (events.read, events.accepted, {})


def test_the_score_logs_the_skipped_duplicates(tmp_path: Path) -> None:
    config = SAMPLES / "amplitude" / "healthsync.yaml"
    result = CliRunner().invoke(
        cli, ["--log-format", "json", "score", "--config", str(config), "-o", str(tmp_path / "s.csv")]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (events,) = [line for line in lines if line.get("table") == "events" and "read" in line]
    assert events["message"] == "events: read 63, accepted 59, rejected 1, skipped 3 (duplicate_insert_id)"
    assert (events["read"], events["accepted"], events["skipped"]) == (63, 59, {"duplicate_insert_id": 3})


def _posthog_parquet(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """PostHog's Parquet layout: properties a JSON string, timestamp a TIMESTAMP (UTC)."""
    lines = folder / "rows.jsonl"
    lines.write_text("".join(json.dumps(row) + "\n" for row in rows))
    target = folder / "events.parquet"
    with duckdb.connect() as db:
        db.execute(
            f"COPY (SELECT * REPLACE (CAST(properties AS VARCHAR) AS properties, "
            f"CAST(timestamp AS TIMESTAMPTZ) AS timestamp) FROM read_json('{lines}', "
            f"columns = {{uuid: 'VARCHAR', event: 'VARCHAR', distinct_id: 'VARCHAR', properties: 'JSON', "
            f"timestamp: 'VARCHAR', \"$group_0\": 'VARCHAR'}})) TO '{target}' (FORMAT parquet)"
        )
    return target


def _copied_config(folder: Path, events: Path, source: dict[str, Any]) -> Path:
    config = yaml.safe_load((SAMPLES / "posthog" / "healthsync.yaml").read_text())
    base = {"events": str(events), "accounts": str(SAMPLES / "accounts.csv"), "users": str(SAMPLES / "users.csv")}
    config["source"] = base | source
    path = folder / "healthsync.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_posthog_parquet_reads_its_json_string_properties(tmp_path: Path) -> None:
    rows = _lines(SAMPLES / "posthog" / "events.jsonl")
    events = _posthog_parquet(tmp_path, [row | {"$group_0": None} for row in rows])
    config = _copied_config(tmp_path, events, {"preset": "posthog"})
    expected = _score(SAMPLES / "posthog" / "healthsync.yaml", tmp_path / "jsonl.json")
    assert _score(config, tmp_path / "parquet.json") == expected
    with statements() as seen:
        data = _read(config)
    plan = data.plan
    assert plan is not None
    assert "sniff_events" in [s.name for s in plan.opening]
    assert len(seen) == len(plan.opening) + len([s for s in plan.statements if s.seconds is not None])


def test_source_columns_override_the_presets_mapping(tmp_path: Path) -> None:
    """PostHog's `$group_0` column (ClickHouse's, where an export carries it) instead of `$groups`."""
    rows = []
    for row in _lines(SAMPLES / "posthog" / "events.jsonl"):
        group = row["properties"].pop("$groups", {}).get("company")
        rows.append(row | {"$group_0": group})
    events = _posthog_parquet(tmp_path, rows)
    config = _copied_config(tmp_path, events, {"preset": "posthog", "columns": {"events": {"account_id": "$group_0"}}})
    expected = _score(SAMPLES / "posthog" / "healthsync.yaml", tmp_path / "jsonl.json")
    assert _score(config, tmp_path / "override.json") == expected


def test_a_file_in_another_layout_names_the_key_and_the_column() -> None:
    config = SAMPLES / "posthog" / "healthsync.yaml"
    with pytest.raises(SourceError, match=r"preset amplitude: account_id: column 'groups' of 'groups.company'"):
        _read(config, preset="amplitude")
    with pytest.raises(SourceError, match=r"source.columns.events.account: events has no logical column"):
        _read(config, columns=TableColumns(events={"account": "x"}))
    with pytest.raises(SourceError, match=r"source.columns.events.user_id: column 'person' of 'person.id'"):
        _read(config, columns=TableColumns(events={"user_id": "person.id"}))


def test_an_export_without_insert_ids_has_no_duplicates(tmp_path: Path) -> None:
    rows = [
        {key: value for key, value in row.items() if key != "$insert_id"}
        for row in _lines(SAMPLES / "amplitude" / "events.jsonl")
    ]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = _copied_config(tmp_path, tmp_path / "events.jsonl", {"preset": "amplitude"})
    events = _read(config).reports["events"]
    assert (events.accepted, events.skipped, events.rejected) == (62, {}, {"missing_user_id": 1})


def test_a_preset_reads_its_own_kind() -> None:
    literal, _ = get_args(SourceConfig.model_fields["preset"].annotation)  # Literal[...] | None
    assert set(get_args(literal)) == {*PRESETS, "segment"}
    assert SourceConfig(preset="segment").kind == "segment"
    assert SourceConfig(preset="amplitude").kind == "files"
    with pytest.raises(ValueError, match="preset mixpanel reads kind files"):
        SourceConfig(preset="mixpanel", kind="sql")


def test_a_preset_for_another_kind_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "healthsync.yaml"
    config.write_text("source:\n  kind: sql\n  preset: posthog\n")
    with pytest.raises(ConfigError, match=r"source: .*preset posthog reads kind files"):
        load_settings(config)


# Pure functions, value by value.
def test_a_dotted_name_is_a_column_and_its_keys() -> None:
    assert path_parts("distinct_id") == ("distinct_id", ())
    assert path_parts("properties.$groups.company") == ("properties", ("$groups", "company"))
    assert json_path(["$groups", 'we"ird', "it's"]) == """'$."$groups"."we\\"ird"."it''s"'"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"company": "acme"}', "acme"),
        ('{"company": ["acme"]}', "acme"),
        ('{"company": ["acme", "globex"]}', None),
        ('{"company": []}', None),
        ('{"company": {"id": "acme"}}', None),
        ('{"company": 7}', "7"),
        ('{"company": null}', None),
        ('{"company": ""}', None),
        ('{"team": "red"}', None),
        (None, None),
    ],
)
def test_a_path_gives_a_scalar_or_the_one_value_of_a_list(value: str | None, expected: str | None) -> None:
    with duckdb.connect() as db:
        query = f"SELECT {value_expression('g.company')} FROM (SELECT CAST(? AS JSON) AS g)"
        assert db.execute(query, [value]).fetchone() == (expected,)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1704110400", datetime(2024, 1, 1, 12, tzinfo=UTC)),
        ("1704110400.5", datetime(2024, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("1704110400000", datetime.max.replace(tzinfo=UTC)),  # milliseconds: an instant past the year 50000
        ("soon", None),
        ("inf", None),
        ("1e300", None),
        (None, None),
    ],
)
def test_epoch_seconds_become_an_instant_or_nothing(value: str | None, expected: datetime | None) -> None:
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        row = db.execute(f"SELECT CAST({epoch_expression('v')} AS VARCHAR) FROM (SELECT ? AS v)", [value]).fetchone()
    assert row is not None
    if expected is None:
        assert row == (None,)
    elif expected == datetime.max.replace(tzinfo=UTC):
        assert int(row[0].split("-")[0]) > 50000
    else:
        assert datetime.fromisoformat(row[0]) == expected


def test_skipping_moves_the_duplicates_and_keeps_the_total() -> None:
    report = TableReport("events", read=10, accepted=6, rejected={"duplicate_event_id": 3, "missing_user_id": 1})
    moved = skipped_duplicates(report, SourceConfig(preset="amplitude"))
    assert moved.rejected == {"missing_user_id": 1}
    assert moved.skipped == {"duplicate_insert_id": 3}
    assert moved.accepted + moved.skipped_total + moved.rejected_total == moved.read == 10
    assert report.rejected["duplicate_event_id"] == 3  # the report it was given is left as it was
    assert skipped_duplicates(report, SourceConfig()) is report
    assert skipped_duplicates(moved, SourceConfig(preset="amplitude")) == moved  # twice is once
