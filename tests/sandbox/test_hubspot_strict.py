"""The HubSpot sandbox as strict as HubSpot's published API: option keys, plain-decimal numbers, association
paging and its 1,000-input limit, `?associations=` on object reads, merges (sandbox/hubspot_merge.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer

HEADERS = {"Authorization": "Bearer pat-na1-strict"}


def call(server: SandboxServer, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{server.base_url}{path}", json=body, headers=HEADERS, timeout=30)


def prop(options: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "tier",
        "label": "Tier",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "companyinformation",
        "options": options,
    }


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {"label": "Healthy", "value": "healthy"},
            "Cannot build OptionInput, some of required attributes are not set [hidden]",
        ),
        (
            {"label": "Healthy", "value": "healthy", "hidden": False, "display_order": 0},
            'Unrecognized field "display_order" (class OptionInput)',
        ),
    ],
    ids=["without-hidden", "snake-case-key"],
)
def test_options_are_validated_like_optioninput(hubspot: SandboxServer, option: dict[str, Any], message: str) -> None:
    response = call(hubspot, "POST", "/crm/v3/properties/companies", prop([option]))
    assert (response.status_code, response.json()["category"]) == (400, "VALIDATION_ERROR")
    assert message in response.json()["message"]
    ok = {"label": "Healthy", "value": "healthy", "hidden": False, "displayOrder": 0, "description": ""}
    assert call(hubspot, "POST", "/crm/v3/properties/companies", prop([ok])).status_code == 201


def test_exponent_numbers_are_refused_per_record(hubspot: SandboxServer) -> None:
    company = call(hubspot, "POST", "/crm/v3/objects/companies", {"properties": {"name": "Acme"}}).json()["id"]
    inputs = [
        {"id": company, "properties": {"numberofemployees": value}, "objectWriteTraceId": value}
        for value in ("1.23457e+06", "1234567.5")
    ]
    response = call(hubspot, "POST", "/crm/v3/objects/companies/batch/update", {"inputs": inputs[:1]})
    body = response.json()
    assert response.status_code == 207
    assert body["errors"][0]["errors"][0]["code"] == "INVALID_DECIMAL"
    assert call(hubspot, "POST", "/crm/v3/objects/companies/batch/update", {"inputs": inputs[1:]}).status_code == 200
    stored = call(hubspot, "GET", f"/crm/v3/objects/companies/{company}?properties=numberofemployees").json()
    assert stored["properties"]["numberofemployees"] == "1234567.5"


def test_association_reads_page_and_refuse_more_than_1000_inputs(hubspot: SandboxServer) -> None:
    company = call(hubspot, "POST", "/crm/v3/objects/companies", {"properties": {"name": "Busy"}}).json()["id"]
    link = [{"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]}]
    for _ in range(3):
        inputs = [{"properties": {"hs_timestamp": "2025-08-13T00:00:00Z"}, "associations": link} for _ in range(84)]
        assert call(hubspot, "POST", "/crm/v3/objects/tasks/batch/create", {"inputs": inputs}).status_code == 201
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        item = {"id": company, **({"after": after} if after else {})}
        result = call(hubspot, "POST", "/crm/v4/associations/companies/tasks/batch/read", {"inputs": [item]}).json()
        entry = result["results"][0]
        seen += [str(to["toObjectId"]) for to in entry["to"]]
        pages += 1
        after = ((entry.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            break
    assert (len(seen), len(set(seen)), pages) == (252, 252, 3)
    too_many = {"inputs": [{"id": company}] * 1001}
    assert call(hubspot, "POST", "/crm/v4/associations/companies/tasks/batch/read", too_many).status_code == 400
    task = seen[0]
    read = call(hubspot, "GET", f"/crm/v3/objects/tasks/{task}?associations=companies").json()
    assert read["associations"]["companies"]["results"] == [{"id": company, "type": "task_to_company"}]
    listed = call(hubspot, "GET", "/crm/v3/objects/tasks?associations=companies&limit=2").json()["results"]
    assert all(item["associations"]["companies"]["results"][0]["id"] == company for item in listed)


def test_merge_keeps_the_primary_id_and_reads_of_the_merged_id_answer_with_it(hubspot: SandboxServer) -> None:
    ids = [
        call(hubspot, "POST", "/crm/v3/objects/companies", {"properties": {"name": n, "domain": d}}).json()["id"]
        for n, d in (("Primary", "primary.com"), ("Merged", "merged.com"))
    ]
    body = {"primaryObjectId": ids[0], "objectIdToMerge": ids[1]}
    merged = call(hubspot, "POST", "/crm/v3/objects/companies/merge", body)
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == ids[0]
    read = call(hubspot, "GET", f"/crm/v3/objects/companies/{ids[1]}?properties=hs_merged_object_ids,domain").json()
    assert (read["id"], read["properties"]["hs_merged_object_ids"]) == (ids[0], ids[1])
    assert read["properties"]["domain"] == "primary.com"
    batch = call(
        hubspot, "POST", "/crm/v3/objects/companies/batch/read", {"inputs": [{"id": ids[1]}], "properties": []}
    )
    assert [r["id"] for r in batch.json()["results"]] == [ids[0]]
    update = {"inputs": [{"id": ids[1], "properties": {"name": "x"}}]}
    assert call(hubspot, "POST", "/crm/v3/objects/companies/batch/update", update).json()["errors"]
    assert call(hubspot, "POST", "/crm/v3/objects/companies/merge", {"primaryObjectId": ids[0]}).status_code == 400
