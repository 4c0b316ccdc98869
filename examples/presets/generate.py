"""Rewrite the preset samples in examples/presets/: one small product (3 accounts, 8 users, 60 events before
2025-08-13) written as a PostHog batch export, an Amplitude export and a Mixpanel raw export (JSON lines), with the
quirks each export has: repeated rows (skipped as duplicates), events without a group (rejected as
missing_account_id), a group given as a list of one, an Amplitude event of an anonymous device (missing_user_id).
The accounts and users files are the plain layout all three share. Run: python examples/presets/generate.py
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
ACCOUNTS = [
    ("acc_acme", "Acme Outreach", "acmeoutreach.com", "team", "paying", "2025-03-01T00:00:00Z", 10, "499.00"),
    ("acc_globex", "Globex", "globex.io", "starter", "trial", "2025-07-20T00:00:00Z", 5, "0.00"),
    ("acc_initech", "Initech", "initech.com", "enterprise", "paying", "2024-11-15T00:00:00Z", 20, "1999.00"),
]
USERS = [
    ("u_ada", "acc_acme", "ada@acmeoutreach.com", "admin"),
    ("u_bo", "acc_acme", "bo@acmeoutreach.com", "rep"),
    ("u_cy", "acc_acme", "cy@acmeoutreach.com", "manager"),
    ("u_di", "acc_globex", "di@globex.io", "admin"),
    ("u_ed", "acc_globex", "ed@globex.io", "rep"),
    ("u_fa", "acc_initech", "fa@initech.com", "rep"),
    ("u_gu", "acc_initech", "gu@initech.com", "rep"),
    ("u_hu", "acc_initech", "hu@initech.com", "manager"),
]
EVENTS = ["sequence_created", "lead_enrolled", "lead_created", "call_logged", "meeting_scheduled", "report_viewed"]


def _logical_events() -> list[dict[str, Any]]:
    """60 events (account, user, event, instant to the second), the same in every layout."""
    rng = random.Random(23)
    rows = []
    for _ in range(60):
        user, account, *_ = rng.choice(USERS)
        instant = AS_OF - timedelta(seconds=rng.randrange(1, 60 * 86400))
        rows.append({"account": account, "user": user, "event": rng.choice(EVENTS), "at": instant})
    return sorted(rows, key=lambda row: row["at"])


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def posthog(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(1)
    rows = []
    for index, event in enumerate(events):
        properties: dict[str, Any] = {"$lib": "posthog-python", "$groups": {"company": event["account"]}}
        if index == 7:
            properties.pop("$groups")  # captured without its group: no account
        at = event["at"].isoformat(timespec="microseconds")
        rows.append(
            {
                "uuid": _id(rng),
                "event": event["event"],
                "distinct_id": event["user"],
                "person_id": _id(rng),
                "properties": properties,
                "person_properties": {"email": f"{event['user']}@example.com"},
                "elements_chain": "",
                "timestamp": at,
                "created_at": at,
                "_inserted_at": at,
            }
        )
    rows.insert(20, dict(rows[19]))  # the batch export delivered one row twice
    return rows


def amplitude(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(2)
    rows = []
    for index, event in enumerate(events):
        groups: dict[str, Any] = {"company": [event["account"]] if index % 5 == 0 else event["account"]}
        at = event["at"].strftime("%Y-%m-%d %H:%M:%S.%f")
        row = {
            "$insert_id": _id(rng),
            "amplitude_id": 1000 + index,
            "app": 123456,
            "device_id": f"device-{event['user']}",
            "event_properties": {},
            "event_time": at,
            "event_type": event["event"],
            "groups": groups,
            "group_properties": {},
            "server_upload_time": at,
            "user_id": event["user"],
            "user_properties": {},
            "uuid": _id(rng),
        }
        if index == 11:
            row["user_id"] = None  # an anonymous device: no user
        rows.append(row)
    for position in (30, 12, 3):  # Amplitude's export repeats rows: the same $insert_id, uploaded again
        again = dict(rows[position], uuid=_id(rng))
        rows.insert(position + 1, again)
    return rows


def mixpanel(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(3)
    rows = []
    for index, event in enumerate(events):
        company: Any = [event["account"]] if index % 4 == 0 else event["account"]
        properties: dict[str, Any] = {
            "time": int(event["at"].timestamp()),
            "distinct_id": event["user"],
            "$insert_id": _id(rng).replace("-", "")[:24],
            "mp_processing_time_ms": int(event["at"].timestamp() * 1000) + 1500,
            "mp_lib": "python",
            "company_id": company,
        }
        if index == 9:
            properties.pop("company_id")  # tracked before the group key was set: no account
        rows.append({"event": event["event"], "properties": properties})
    rows.insert(26, json.loads(json.dumps(rows[25])))  # the same four keys twice: a duplicate
    # the same $insert_id on another event name: not a duplicate by Mixpanel's four keys
    rows[40]["properties"]["$insert_id"] = rows[39]["properties"]["$insert_id"]
    return rows


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows), encoding="utf-8")
    print(f"wrote {path}")


def _csv(path: Path, header: list[str], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    _csv(
        OUT / "accounts.csv",
        ["account_id", "name", "domain", "plan", "status", "created_at", "seats_limit", "mrr"],
        ACCOUNTS,
    )
    created = "2025-03-02T09:00:00Z"
    _csv(
        OUT / "users.csv",
        ["user_id", "account_id", "email", "role", "created_at"],
        [(*user, created) for user in USERS],
    )
    logical = _logical_events()
    _jsonl(OUT / "posthog" / "events.jsonl", posthog(logical))
    _jsonl(OUT / "amplitude" / "events.jsonl", amplitude(logical))
    _jsonl(OUT / "mixpanel" / "events.jsonl", mixpanel(logical))
