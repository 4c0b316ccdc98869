"""The HubSpot sandbox serves the 2026-09 paths with the 2026-09 shapes, and still answers the legacy v3/v4 paths,
flagging and counting each legacy request (sandbox/hubspot_versions.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer

HEADERS = {"Authorization": "Bearer pat-na1-versions"}
V = "2026-09"


def call(server: SandboxServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{server.base_url}{path}", json=body, headers=HEADERS, timeout=30)


def control(server: SandboxServer, method: str, action: str) -> Any:
    return httpx.request(method, f"{server.base_url}/_sandbox/{action}", timeout=30).json()


def company_with_task(server: SandboxServer) -> str:
    made = call(
        server,
        "POST",
        f"/crm/objects/{V}/companies/batch/create",
        {"inputs": [{"properties": {"name": "A"}, "associations": []}]},
    )
    company = str(made.json()["results"][0]["id"])
    link = {"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}
    task = {"properties": {"hs_timestamp": "2026-09-01T00:00:00Z"}, "associations": [link]}
    assert call(server, "POST", f"/crm/objects/{V}/tasks/batch/create", {"inputs": [task]}).status_code == 201
    return company


def test_association_results_have_string_ids_and_no_null_label(hubspot: SandboxServer) -> None:
    company = company_with_task(hubspot)
    current = call(hubspot, "POST", f"/crm/associations/{V}/companies/tasks/batch/read", {"inputs": [{"id": company}]})
    target = current.json()["results"][0]["to"][0]
    assert isinstance(target["toObjectId"], str)
    assert all("label" not in spec or spec["label"] is not None for spec in target["associationTypes"])
    legacy = call(hubspot, "POST", "/crm/v4/associations/companies/tasks/batch/read", {"inputs": [{"id": company}]})
    assert isinstance(legacy.json()["results"][0]["to"][0]["toObjectId"], int)


def test_each_legacy_request_is_flagged_and_counted(hubspot: SandboxServer) -> None:
    before = control(hubspot, "GET", "state")["legacy_requests"]
    assert call(hubspot, "GET", "/crm/v3/owners").status_code == 200
    assert call(hubspot, "GET", f"/crm/owners/{V}").status_code == 200
    log = control(hubspot, "GET", "requests")[-2:]
    assert [(e["path"], e["legacy"]) for e in log] == [("/crm/v3/owners", True), (f"/crm/owners/{V}", False)]
    assert control(hubspot, "GET", "state")["legacy_requests"] == before + 1


@pytest.mark.parametrize(
    ("path", "body", "missing"),
    [
        (f"/crm/objects/{V}/companies/batch/read", {"inputs": [], "properties": []}, "propertiesWithHistory"),
        (
            f"/crm/objects/{V}/companies/search",
            {"filterGroups": [], "limit": 1, "properties": [], "sorts": []},
            "after",
        ),
        (f"/crm/objects/{V}/tasks/batch/create", {"inputs": [{"properties": {}}]}, "associations"),
    ],
)
def test_2026_09_required_fields_are_enforced(hubspot: SandboxServer, path: str, body: Any, missing: str) -> None:
    response = call(hubspot, "POST", path, body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert missing in response.json()["message"]


def test_an_upserted_record_has_no_null_property(hubspot: SandboxServer) -> None:
    prop = {"name": "acct", "label": "Acct", "type": "string", "fieldType": "text", "groupName": "companyinformation"}
    assert call(hubspot, "POST", f"/crm/properties/{V}/companies", {**prop, "hasUniqueValue": True}).status_code == 201
    body = {"inputs": [{"id": "a1", "idProperty": "acct", "properties": {"name": "A1"}}]}
    upserted = call(hubspot, "POST", f"/crm/objects/{V}/companies/batch/upsert", body).json()["results"][0]
    assert None not in upserted["properties"].values()


def test_the_request_log_never_holds_a_token_sent_in_a_body(hubspot: SandboxServer) -> None:
    token = "pat-na1-secret-in-a-body-0003"
    httpx.post(f"{hubspot.base_url}/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": token}, timeout=10)
    log = httpx.get(f"{hubspot.base_url}/_sandbox/requests", timeout=10)
    assert token not in log.text
    entry = next(item for item in log.json() if item["path"].endswith("access-token-info"))
    assert entry["body"] == {"tokenKey": "[redacted]"}
