"""A generated product at scale and a CRM that holds every account and user (benchmarks/scale.py, issue 25).

`product` writes accounts, users (10 an account at 10k/100k) and a few events per user into a DuckDB file, in SQL
(deterministic); `seed` gives every account a company and every user a contact in the HubSpot sandbox (batch
creates over HTTP) and, when given, the Intercom sandbox (companies over HTTP, contacts through the sandbox's own
code: one call each would take an hour at a million).
"""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml

from healthsync.connector.demo.runner import DEMO_SCORING
from healthsync.sandbox import intercom_contacts
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.intercom import IntercomSandbox
from healthsync.sandbox.seed import TOKEN

AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
SCORING: dict[str, Any] = {"as_of": AS_OF.isoformat(), **DEMO_SCORING}  # the demo product and its scoring
EVENTS = sorted({*DEMO_SCORING["weights"], "report_viewed"})


def product(path: Path, accounts: int, users: int) -> None:
    """accounts, users and events tables in a DuckDB file, generated in SQL (deterministic)."""
    path.unlink(missing_ok=True)
    names = ", ".join(f"'{name}'" for name in EVENTS)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"""
            CREATE TABLE accounts AS SELECT
                printf('acc_%06d', i) AS account_id, printf('Account %d', i) AS name,
                printf('acc-%06d.example.com', i) AS domain, CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'team' END AS plan,
                'active' AS status,
                TIMESTAMPTZ '{AS_OF.isoformat()}' - INTERVAL 400 DAY + to_days(CAST(i % 300 AS INTEGER)) AS created_at,
                20 AS seats_limit, 100 + i % 900 AS mrr
            FROM range({accounts}) t(i)""")
        con.execute(f"""
            CREATE TABLE users AS SELECT
                printf('u_%07d', j) AS user_id, printf('acc_%06d', j % {accounts}) AS account_id,
                printf('u%07d@acc-%06d.example.com', j, j % {accounts}) AS email, 'member' AS role,
                TIMESTAMPTZ '{AS_OF.isoformat()}' - INTERVAL 300 DAY AS created_at
            FROM range({users}) t(j)""")
        con.execute(f"""
            CREATE TABLE events AS SELECT
                user_id, account_id, ([{names}])[CAST(1 + hash(user_id, k) % {len(EVENTS)} AS BIGINT)] AS event,
                TIMESTAMPTZ '{AS_OF.isoformat()}'
                    - to_seconds(CAST(1 + hash(k, user_id) % (60 * 86400) AS BIGINT)) AS timestamp
            FROM users, range(4) r(k)
            WHERE hash(user_id) % 5 <> 0""")


def seed(hubspot: SandboxServer, intercom: SandboxServer | None, path: Path) -> None:
    """Every account a company and every user a contact, in both CRMs (limits lifted while seeding)."""
    with duckdb.connect(str(path), read_only=True) as con:
        accounts = con.execute("SELECT account_id, name, domain FROM accounts ORDER BY 1").fetchall()
        users = con.execute("SELECT user_id, email FROM users ORDER BY 1").fetchall()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=hubspot.base_url, headers=headers, timeout=120) as client:
        for start in range(0, len(accounts), 100):
            batch = accounts[start : start + 100]
            inputs = [{"properties": {"name": name, "domain": domain}, "associations": []} for _, name, domain in batch]
            client.post("/crm/objects/2026-09/companies/batch/create", json={"inputs": inputs}).raise_for_status()
        for start in range(0, len(users), 100):
            inputs = [{"properties": {"email": email}, "associations": []} for _, email in users[start : start + 100]]
            client.post("/crm/objects/2026-09/contacts/batch/create", json={"inputs": inputs}).raise_for_status()
    if intercom is None:
        return
    headers |= {"Intercom-Version": "2.14"}
    with httpx.Client(base_url=intercom.base_url, headers=headers, timeout=120) as client:
        for key, name, _ in accounts:
            client.post("/companies", json={"company_id": key, "name": name}).raise_for_status()
    assert isinstance(intercom.sandbox, IntercomSandbox)
    store = intercom.sandbox.store
    with intercom.sandbox.lock:
        template = intercom_contacts.create(store, {"email": users[0][1], "external_id": users[0][0]})
        stored = store.contacts[template["id"]]
        for user_id, email in users[1:]:
            contact = deepcopy(stored) | {"id": store.object_id(), "email": email, "external_id": user_id}
            contact["email_domain"] = email.rpartition("@")[2]
            store.contacts[contact["id"]] = contact
        store.changed()


def write_config(root: Path, db: Path, destinations: dict[str, Any], state_url: str | None = None) -> Path:
    """`root/healthsync.yaml`: the product in `db` (DuckDB tables accounts, users, events), the demo's scoring as of
    AS_OF, the state store at `state_url` (default: a SQLite file in `root`)."""
    settings = {
        "source": {
            "kind": "sql",
            "url": f"duckdb:///{db}",
            "events": "events",
            "accounts": "accounts",
            "users": "users",
        },
        "scoring": SCORING,
        "state": {"url": state_url or f"sqlite:///{root / 'state.db'}"},
        "destinations": destinations,
    }
    path = root / "healthsync.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path
