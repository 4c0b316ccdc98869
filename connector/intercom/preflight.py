"""Intercom's part of `healthsync check` (read-only): the token (`GET /me`), the app's workspace and region, data
attribute clashes across models, room under the workspace's 250 custom data attributes, and how many of the
accounts exist as Intercom companies.

Findings are the shared `check` command's: an `auth` error exits 5, a `config` error 2.
"""

from __future__ import annotations

from healthsync.connector.intercom import provisioning
from healthsync.connector.intercom.client import IntercomClient
from healthsync.connector.intercom.listing import CompanyListing
from healthsync.connector.sync.check import Finding, error, ok
from healthsync.errors import AuthError
from healthsync.mappings.models import IntercomMapping

SOURCE = "intercom"
REGIONS = {"US": "us", "EU": "eu", "AU": "au"}


def findings(
    client: IntercomClient, mapping: IntercomMapping, reference: str, region: str, account_ids: list[str] | None
) -> list[Finding]:
    try:
        admin = client.me()
    except AuthError as exc:
        return [error(SOURCE, f"the access token was refused: {exc}", "auth")]
    found = [workspace(admin, region, client.base_url)]
    attributes = client.data_attributes()
    problems = provisioning.problems(attributes, mapping, reference)
    found += [error(SOURCE, problem, "config") for problem in problems]
    if not problems:
        room = provisioning.capacity(attributes, mapping)
        found.append(ok(SOURCE, f"{len(mapping.companies.fields)} company data attributes free of clashes"))
        found.append(
            ok(
                SOURCE,
                f"{room.used} of {provisioning.MAX_CUSTOM} custom data attributes in use, {room.free} free; "
                f"healthsync needs {room.needed} more",
            )
        )
    if account_ids is not None:
        listed = CompanyListing(client).by_company_id(sorted(account_ids))
        found.append(ok(SOURCE, f"{len(listed)} of {len(account_ids)} accounts exist as Intercom companies"))
    return found


def workspace(admin: dict[str, object], region: str, host: str) -> Finding:
    app = admin.get("app") if isinstance(admin.get("app"), dict) else {}
    assert isinstance(app, dict)
    hosted = str(app.get("region") or "").upper()
    described = f"token valid (admin {admin.get('email')}); workspace {app.get('name')!r} ({app.get('id_code')})"
    wanted = REGIONS.get(hosted)
    if wanted is not None and wanted != region and host.startswith("https://api."):
        return error(SOURCE, f"{described} is hosted in {hosted}: set destinations.intercom.region: {wanted}", "config")
    return ok(SOURCE, f"{described}, region {hosted or 'unknown'}, API host {host}")
