"""The example product's data: a sales-engagement tool with 40 accounts, ~250 users and ~90 days of events.

Deterministic (seeded): `healthsync init` writes it into data/ next to the starter config, and
`python examples/generate.py` rewrites examples/data/{accounts,users,events}.csv identically. The data ends at
:data:`AS_OF`, which the starter config sets as `scoring.as_of`.
Accounts follow a health profile (healthy, rising, falling, dead, onboarding, low, stalled) so that scores, trends and
every play vary; churned accounts went quiet; a stalled account is new, busy in its trial, and now only its admin works.
Users never outnumber the plan's seats.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SEED = 20250813
AS_OF = datetime(2025, 8, 13, tzinfo=UTC)
DAYS = 90


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(","))


COMPANIES = _names(
    "Acme Outreach, Brightline Media, Cobalt Freight, Dunmore Labs, Elmwood Health, Fairway Logistics, Granite Peak, "
    "Harbor & Co, Ironclad Security, Juniper Foods, Keystone Realty, Lumen Analytics, Maple Street Bank, Northwind, "
    "Oakridge Dental, Pinecrest Hotels, Quantum Parts, Redwood Legal, Silverline Travel, Tidewater Energy, "
    "Umbra Design, Vantage Insurance, Willow Schools, Xenon Robotics, Yellowstone Outfitters, Zephyr Aviation, "
    "Atlas Staffing, Beacon Clinics, Cedar Builders, Delta Print, Evergreen Farms, Foxglove Retail, Gemini Telecom, "
    "Horizon Solar, Indigo Apparel, Jasper Motors, Kiln Ceramics, Lighthouse Events, Meridian Capital, Nimbus Cloud"
)
FIRST = _names("Ana, Ben, Carla, Dev, Eli, Fay, Gus, Hana, Ivan, Jo, Kai, Lea, Max, Nia, Omar, Pia, Raj, Sue, Tom, Uma")
LAST = _names("Reyes, Smith, Okafor, Chen, Novak, Haddad, Kim, Larsen, Silva, Patel, Moreau, Ito, Berg, Costa, Walsh")
PLANS = {"starter": (5, 99.0), "team": (20, 499.0), "enterprise": (60, 1990.0)}
ROLE_EVENTS = {
    "rep": {"lead_created": 5, "lead_enrolled": 4, "call_logged": 6, "meeting_scheduled": 2, "report_viewed": 1},
    "manager": {"report_viewed": 5, "sequence_created": 2, "meeting_scheduled": 1, "lead_enrolled": 1},
    "admin": {"sequence_created": 3, "report_viewed": 2, "lead_enrolled": 1},
}
PROFILES = ("healthy", "healthy", "rising", "falling", "dead", "low", "onboarding", "healthy", "stalled")
TRIAL = timedelta(days=14)


@dataclass
class Account:
    account_id: str
    name: str
    domain: str
    plan: str
    status: str
    created_at: datetime
    profile: str


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _rate(account: Account, day: int) -> float:
    """Mean events per active user per day, `day` counted from the first of the DAYS days."""
    progress = day / (DAYS - 1)
    if account.profile == "stalled":
        return 2.0 if AS_OF - timedelta(days=DAYS - day) < account.created_at + TRIAL else 0.1
    return {
        "healthy": 1.0,
        "rising": 0.15 + 1.2 * progress,
        "falling": 1.3 - 1.25 * progress,
        "dead": 0.8 if day < 40 else 0.0,
        "low": 0.12,
        "onboarding": 1.1,
    }[account.profile]


def _accounts(rng: random.Random) -> list[Account]:
    accounts = []
    for index, name in enumerate(COMPANIES, start=1):
        profile = PROFILES[index % len(PROFILES)]
        status = "churned" if profile == "dead" else "trial" if index % 9 == 0 else "paying"
        age = rng.randint(20, 60) if profile in ("onboarding", "stalled") else rng.randint(120, 700)
        domain = name.lower().replace(" & ", "").replace(" ", "") + ".com"
        plan = rng.choice(("starter", "team", "team", "enterprise"))
        created = AS_OF - timedelta(days=age, hours=rng.randint(0, 23))
        accounts.append(Account(f"acc_{index:03d}", name, domain, plan, status, created, profile))
    return accounts


def _users(rng: random.Random, account: Account) -> list[dict[str, str]]:
    count = min(rng.randint(3, 13), PLANS[account.plan][0])
    roles = ["admin"] + ["manager"] * (1 + count // 8) + ["rep"] * count
    users = []
    for number, role in enumerate(roles[:count], start=1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = account.created_at + timedelta(days=rng.randint(0, 15), minutes=rng.randint(0, 600))
        users.append(
            {
                "user_id": f"{account.account_id}_u{number:02d}",
                "account_id": account.account_id,
                "email": f"{first.lower()}.{last.lower()}{number}@{account.domain}",
                "role": role,
                "created_at": _iso(min(created, AS_OF - timedelta(days=1))),
            }
        )
    return users


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user_events(rng: random.Random, account: Account, user: dict[str, str]) -> list[tuple[datetime, str]]:
    weights = ROLE_EVENTS[user["role"]]
    if account.profile == "stalled" and int(account.account_id[-3:]) % 2:
        weights = {event: weight for event, weight in weights.items() if event != "sequence_created"}  # not set up
    engagement = 0.0 if rng.random() < 0.2 else rng.uniform(0.2, 1.4)
    if account.profile == "stalled":
        engagement = 1.0 if user["role"] == "admin" else 0.0
    start = AS_OF - timedelta(days=DAYS)
    events = []
    for day in range(DAYS):
        moment = start + timedelta(days=day)
        if moment < datetime.fromisoformat(user["created_at"]):
            continue
        weekend = 0.15 if moment.weekday() >= 5 else 1.0
        for _ in range(_poisson(rng, _rate(account, day) * engagement * weekend * 1.2)):
            event = rng.choices(list(weights), weights=list(weights.values()))[0]
            events.append((moment + timedelta(seconds=rng.randint(8 * 3600, 19 * 3600)), event))
    return events


def _csv(rows: list[dict[str, str]]) -> bytes:
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return handle.getvalue().encode("utf-8")


def example_data() -> dict[str, bytes]:
    """File name -> CSV bytes of the three tables."""
    rng = random.Random(SEED)
    accounts = _accounts(rng)
    users: list[dict[str, str]] = []
    stamped: list[tuple[datetime, str, str, str]] = []
    for account in accounts:
        for user in _users(rng, account):
            users.append(user)
            stamped += [(t, account.account_id, user["user_id"], e) for t, e in _user_events(rng, account, user)]
    stamped.sort()
    events = [
        {"event_id": f"ev_{n:06d}", "account_id": a, "user_id": u, "event": e, "timestamp": _iso(t)}
        for n, (t, a, u, e) in enumerate(stamped, start=1)
    ]
    return {
        "accounts.csv": _csv([_account_row(account) for account in accounts]),
        "users.csv": _csv(users),
        "events.csv": _csv(events),
    }


def _account_row(account: Account) -> dict[str, str]:
    seats, price = PLANS[account.plan]
    return {
        "account_id": account.account_id,
        "name": account.name,
        "domain": account.domain,
        "plan": account.plan,
        "status": account.status,
        "created_at": _iso(account.created_at),
        "seats_limit": str(seats),
        "mrr": f"{0.0 if account.status != 'paying' else price:.2f}",
    }
