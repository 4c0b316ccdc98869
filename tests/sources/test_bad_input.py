"""Bad input found by fuzzing the files source, each through `healthsync score` as a user runs it: every row that
cannot be used is rejected with a reason and its line (or source row), every value that cannot be used is nulled
with a counted reason, `accepted + rejected = read` for events, accounts and users, and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.paths import EXAMPLES
from tests.world import healthsync

EXAMPLE_DATA = EXAMPLES / "data"
SCORING = {"as_of": "2025-08-13T00:00:00Z", "weights": {"lead_created": 9, "call_logged": 5}}


def _product(folder: Path) -> dict[str, list[str]]:
    """The example product's three CSV files, as lines, copied into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = {name: (EXAMPLE_DATA / f"{name}.csv").read_text().splitlines() for name in ("events", "accounts", "users")}
    _write(folder, lines)
    return lines


def _write(folder: Path, lines: dict[str, list[str]]) -> None:
    for name, rows in lines.items():
        (folder / f"{name}.csv").write_text("\n".join(rows) + "\n")


def _score(tmp: Path, data: Path, **source: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Run `healthsync score --format json`; the score rows and the report log lines by table (totals, reasons)."""
    paths = {name: str(data / f"{name}.csv") for name in ("events", "accounts", "users")}
    config = {"source": {"kind": "files", "max_rejected_share": 1.0, **paths, **source}, "scoring": SCORING}
    (tmp / "healthsync.yaml").write_text(yaml.safe_dump(config))
    result = healthsync("score", "--config", str(tmp / "healthsync.yaml"), "--format", "json")
    assert result.returncode == 0, result.stderr
    reports: dict[str, dict[str, Any]] = {}
    for line in result.stderr.splitlines():
        record = json.loads(line)
        if "table" not in record:
            continue
        report = reports.setdefault(record["table"], {"reasons": {}})
        if "read" in record:
            report |= {key: record[key] for key in ("read", "accepted", "rejected", "nulled")}
        else:
            report["reasons"][record["reason"]] = record
    for table, report in reports.items():
        assert report["accepted"] + sum(report["rejected"].values()) == report["read"], table
    return json.loads(result.stdout), reports


def test_csv_rows_with_an_extra_or_a_missing_field_are_rejected_with_their_line(tmp_path: Path) -> None:
    lines = _product(tmp_path / "data")
    lines["events"].insert(5, "e_extra,acc_001,acc_001_u01,call_logged,2025-08-01T10:00:00Z,surplus")
    lines["events"].insert(9, "e_short,acc_001,acc_001_u01")
    lines["accounts"].append("acc_bad,Bad Co")
    _write(tmp_path / "data", lines)
    rows, reports = _score(tmp_path, tmp_path / "data")
    events = reports["events"]
    assert events["rejected"] == {"csv_too_many_columns": 1, "csv_missing_columns": 1}
    assert events["read"] == len(lines["events"]) - 1
    assert events["accepted"] == len(lines["events"]) - 3
    extra = events["reasons"]["csv_too_many_columns"]["samples"]
    assert [(row["line"], row["text"]) for row in extra] == [(6, lines["events"][5])]
    assert "Expected Number of Columns" in extra[0]["error"]
    assert extra[0]["file"] == str(tmp_path / "data" / "events.csv")
    assert events["reasons"]["csv_missing_columns"]["samples"][0]["line"] == 10
    assert reports["accounts"]["rejected"] == {"csv_missing_columns": 1}
    assert len(rows) == len(lines["accounts"]) - 2  # the header and the unreadable line


def test_a_key_value_folder_in_a_data_path_stays_a_folder(tmp_path: Path) -> None:
    data = tmp_path / "env=prod" / "region=eu"
    _product(data)
    rows, reports = _score(tmp_path, data)
    assert len(rows) == 40
    assert "env" not in rows[0]
    assert "region" not in rows[0]
    assert reports["events"]["rejected"] == {}


def test_unusable_account_values_are_nulled_and_counted(tmp_path: Path) -> None:
    lines = _product(tmp_path / "data")
    header = lines["accounts"][0].split(",")
    bad = {
        1: {"seats_limit": "lots"},
        2: {"seats_limit": "12 seats"},
        3: {"seats_limit": "NaN"},
        4: {"seats_limit": "inf"},
        5: {"seats_limit": "1e400"},
        6: {"seats_limit": "-3"},
        7: {"created_at": "someday"},
        8: {"created_at": "2099-01-01"},
        9: {"mrr": "-10"},
        10: {"mrr": "ten dollars"},
    }
    edited = {}
    for index, changes in bad.items():
        values = lines["accounts"][index].split(",")
        for column, value in changes.items():
            values[header.index(column)] = value
        lines["accounts"][index] = ",".join(values)
        edited[values[0]] = changes
    _write(tmp_path / "data", lines)
    rows, reports = _score(tmp_path, tmp_path / "data")
    accounts = reports["accounts"]
    assert accounts["rejected"] == {}
    assert accounts["nulled"] == {
        "invalid_created_at": 1,
        "future_created_at": 1,
        "invalid_seats_limit": 5,
        "negative_seats_limit": 1,
        "negative_mrr": 1,
        "invalid_mrr": 1,
    }
    samples = accounts["reasons"]["invalid_seats_limit"]["samples"]
    assert [row["seats_limit"] for row in samples] == ["lots", "12 seats", "NaN", "inf", "1e400"]
    by_id = {row["account_id"]: row for row in rows}
    for account_id, changes in edited.items():
        if "created_at" in changes:
            assert by_id[account_id]["tenure_days"] is None, account_id
    assert all(row["tenure_days"] is None or row["tenure_days"] >= 0 for row in rows)


def test_users_of_unknown_accounts_are_rejected(tmp_path: Path) -> None:
    lines = _product(tmp_path / "data")
    lines["users"].append("stranger_1,acc_999,stranger@example.com,rep,2025-01-01T00:00:00Z")
    _write(tmp_path / "data", lines)
    _, reports = _score(tmp_path, tmp_path / "data")
    users = reports["users"]
    assert users["rejected"] == {"unknown_account": 1}
    assert users["reasons"]["unknown_account"]["samples"][0]["user_id"] == "stranger_1"
    assert users["read"] == len(lines["users"]) - 1


def test_a_duplicate_yaml_key_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    config = tmp_path / "healthsync.yaml"
    config.write_text(
        "source:\n  kind: files\nscoring:\n  window_days: 30\nstate:\n  url: sqlite:///s.db\nscoring:\n  curve: 3\n"
    )
    result = healthsync("validate", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:7: duplicate key 'scoring' (first at line 3)" in result.stderr
    nested = tmp_path / "nested.yaml"
    nested.write_text("scoring:\n  window_days: 30\n  curve: 2\n  window_days: 14\n")
    result = healthsync("validate", "--config", str(nested))
    assert result.returncode == 2
    assert f"{nested}:4: duplicate key 'scoring.window_days' (first at line 2)" in result.stderr


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("mysql+pymysql://app:hunter2@127.0.0.1:3306/test", "mysql"),
        ("mariadb+pymysql://app:hunter2@127.0.0.1/test", "mariadb"),
        ("mssql+pyodbc://app:hunter2@dsn", "mssql"),
        ("trino://app:hunter2@host:8080/hive", "trino"),
    ],
)
def test_an_unsupported_dialect_is_refused_by_validate(tmp_path: Path, url: str, dialect: str) -> None:
    config = tmp_path / "healthsync.yaml"
    config.write_text(yaml.safe_dump({"source": {"kind": "sql", "url": url, "events": "events"}}))
    result = healthsync("validate", "--config", str(config))
    assert result.returncode == 2
    assert f"{config}:" in result.stderr
    assert f"source.url: dialect {dialect!r} is not supported" in result.stderr
    assert "(supported: bigquery, clickhousedb, databricks, duckdb, postgresql, snowflake, sqlite)" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_events_without_an_event_id_are_never_duplicates_of_each_other(tmp_path: Path) -> None:
    lines = _product(tmp_path / "data")
    header = lines["events"][0].split(",")
    assert header[0] == "event_id"
    twin = lines["events"][1].split(",")
    twin[0] = ""
    lines["events"] += [",".join(twin), ",".join(twin)]  # the same event twice, neither with an id
    lines["events"] += [lines["events"][2], lines["events"][2]]  # a repeated id: one duplicate (and the original)
    _write(tmp_path / "data", lines)
    _, reports = _score(tmp_path, tmp_path / "data")
    assert reports["events"]["rejected"] == {"duplicate_event_id": 2}
    assert reports["events"]["accepted"] == len(lines["events"]) - 1 - 2


def _latin1_accounts(tmp_path: Path) -> tuple[Path, str]:
    """The example product with one account name written in Latin-1 bytes; that account's id."""
    lines = _product(tmp_path / "data")
    row = 3
    account = lines["accounts"][row].split(",")[0]
    path = tmp_path / "data" / "accounts.csv"
    text = "\n".join(lines["accounts"]) + "\n"
    broken = text.replace(lines["accounts"][row], lines["accounts"][row].replace(",", ",Café ", 1), 1)
    path.write_bytes(broken.encode("latin-1"))
    return tmp_path / "data", account


def test_a_line_that_is_not_utf8_is_rejected_naming_file_line_and_encoding(tmp_path: Path) -> None:
    data, account = _latin1_accounts(tmp_path)
    expected = len((data / "accounts.csv").read_bytes().splitlines()) - 1
    scores, reports = _score(tmp_path, data)
    accounts = reports["accounts"]
    assert accounts["read"] == expected
    assert accounts["rejected"] == {"csv_invalid_encoding": 1}
    sample = accounts["reasons"]["csv_invalid_encoding"]["samples"][0]
    assert sample["line"] == 4
    assert sample["file"].endswith("accounts.csv")
    assert "not UTF-8" in sample["error"]
    assert "source.encoding" in sample["error"]
    assert account not in {row["account_id"] for row in scores}
    users = reports["users"]
    assert "unknown_account" not in users["rejected"]
    assert users["rejected"].get("account_rejected", 0) > 0


def test_source_encoding_latin1_reads_every_row(tmp_path: Path) -> None:
    data, account = _latin1_accounts(tmp_path)
    expected = len((data / "accounts.csv").read_bytes().splitlines()) - 1
    scores, reports = _score(tmp_path, data, encoding="latin-1")
    assert reports["accounts"]["read"] == reports["accounts"]["accepted"] == expected
    assert not reports["users"]["rejected"]
    named = {row["account_id"]: row["name"] for row in scores}
    assert named[account].startswith("Café ")
