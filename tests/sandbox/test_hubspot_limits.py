"""The HubSpot sandbox's rate limits, faults and search index lag, seen by the official SDK and by plain HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import urllib3
from hubspot.crm.companies import ApiException

from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.hubspot import HubSpotSandbox
from tests.sandbox.test_hubspot import control, sdk

AUTH = {"Authorization": "Bearer test-token"}
RATE_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining", "X-HubSpot-RateLimit-Interval-Milliseconds")
LIMIT_BODY_KEYS = {"status", "message", "errorType", "correlationId", "policyName"}


def test_ten_second_window_is_enforced_with_hubspots_headers_and_body(hubspot: SandboxServer) -> None:
    control(hubspot, "limits", {"requests_per_window": 3, "window_seconds": 10})
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:
        answers = [http.get("/crm/v3/owners") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-HubSpot-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert all(answer.headers["X-HubSpot-RateLimit-Max"] == "3" for answer in answers)
    assert all(answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000" for answer in answers)
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "1"
    assert set(refused.json()) == LIMIT_BODY_KEYS
    assert refused.json()["message"] == "You have reached your ten_secondly_rolling limit."
    assert (refused.json()["errorType"], refused.json()["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    with pytest.raises(ApiException) as caught:
        sdk(hubspot).crm.companies.basic_api.get_page()
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "1"


def test_search_has_its_own_per_second_limit(hubspot: SandboxServer) -> None:
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:
        searches = [http.post("/crm/v3/objects/companies/search", json={}) for _ in range(6)]
        after = http.get("/crm/v3/owners")
    assert [answer.status_code for answer in searches] == [200] * 5 + [429]
    assert searches[-1].json()["policyName"] == "SECONDLY"
    assert searches[-1].headers["Retry-After"] == "1"
    assert after.status_code == 200
    assert after.headers["X-HubSpot-RateLimit-Remaining"] == "99"


def test_a_fault_burst_looks_like_the_real_429(hubspot: SandboxServer) -> None:
    control(hubspot, "faults", {"rate_limit_burst": 1.0})
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:
        refused = http.get("/crm/v3/owners")
    assert refused.status_code == 429
    assert set(refused.json()) == LIMIT_BODY_KEYS
    assert refused.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert refused.headers["Retry-After"] == "1"
    assert all(name in refused.headers for name in RATE_HEADERS)


def test_a_fault_burst_refuses_until_its_retry_after(hubspot: SandboxServer) -> None:
    control(hubspot, "faults", {"rate_limit_burst": 1.0, "burst_seconds": 1.5})
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:
        first = http.get("/crm/v3/owners")
        control(hubspot, "faults", {"burst_seconds": 1.5})  # no new burst; the one running goes on
        during = http.get("/crm/v3/owners")
        assert first.headers["Retry-After"] == "2"  # 1.5 s, rounded up
        assert int(during.headers["Retry-After"]) in (1, 2)
        time.sleep(float(first.headers["Retry-After"]))
        after = http.get("/crm/v3/owners")
    assert (first.status_code, during.status_code, after.status_code) == (429, 429, 200)


def _statuses(server: SandboxServer, count: int) -> list[int]:
    control(server, "limits", {"requests_per_window": 10_000})
    control(server, "faults", {"error_rate": 0.25, "rate_limit_burst": 0.05, "burst_seconds": 0})
    with httpx.Client(base_url=server.base_url, headers=AUTH) as http:
        return [http.get("/crm/v3/owners").status_code for _ in range(count)]


def test_faults_happen_at_the_configured_rates_reproducibly(hubspot: SandboxServer) -> None:
    first = _statuses(hubspot, 200)
    hubspot.sandbox.reset()
    assert _statuses(hubspot, 200) == first
    server_errors = sum(status >= 500 for status in first)
    assert 30 <= server_errors <= 70
    assert {status for status in first if status >= 500} <= {500, 502, 503, 504}
    assert 429 in first
    with SandboxServer(HubSpotSandbox(seed=1)) as other:
        assert _statuses(other, 200) != first


def test_a_batch_create_dropped_after_commit_is_stored(hubspot: SandboxServer) -> None:
    control(hubspot, "faults", {"drop_after_commit_rate": 1.0})
    with pytest.raises(urllib3.exceptions.HTTPError):
        sdk(hubspot).crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Acme"}}]})
    assert [record["properties"]["name"] for record in control(hubspot, "state")["companies"]] == ["Acme"]
    assert control(hubspot, "requests")[-1]["fault"] == "dropped_after_commit"


def test_a_connection_reset_is_a_client_side_connection_error(hubspot: SandboxServer) -> None:
    control(hubspot, "faults", {"reset_rate": 1.0})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        sdk(hubspot).crm.owners.owners_api.get_page()
    assert control(hubspot, "state")["companies"] == []


def test_search_sees_a_new_company_only_after_the_index_lag(hubspot: SandboxServer) -> None:
    answer = control(hubspot, "limits", {"search_index_lag_seconds": 0.3, "search_requests_per_second": 100})
    assert answer["search_index_lag_seconds"] == 0.3
    client = sdk(hubspot)
    by_domain = {"filterGroups": [{"filters": [{"propertyName": "domain", "operator": "EQ", "value": "acme.com"}]}]}
    written = time.monotonic()
    client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Acme", "domain": "acme.com"}}]})
    assert client.crm.companies.search_api.do_search(by_domain).total == 0
    deadline = written + 3.0
    while client.crm.companies.search_api.do_search(by_domain).total == 0:
        assert time.monotonic() < deadline, "the company never became searchable"
        time.sleep(0.05)
    assert time.monotonic() - written >= 0.3


def test_the_index_lag_is_a_constructor_argument_and_survives_reset() -> None:
    sandbox = HubSpotSandbox(seed=3, index_lag_seconds=0.5)
    sandbox.records.index_lag = 9.0
    sandbox.reset()
    assert sandbox.records.index_lag == 0.5


def test_rate_limited_sdk_error_body_is_json(hubspot: SandboxServer) -> None:
    control(hubspot, "limits", {"requests_per_window": 0})
    with pytest.raises(ApiException) as caught:
        sdk(hubspot).crm.companies.batch_api.read({"inputs": []})
    assert json.loads(caught.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"


def test_the_request_log_keeps_every_line_and_the_bodies_of_the_latest(hubspot: SandboxServer) -> None:
    """A scale run must not hold every body it ever exchanged (issue 25): past `log_bodies` entries, an entry keeps
    its method, path and status and drops its request and response bodies, marked `trimmed`."""
    assert control(hubspot, "limits", {"log_bodies": 2})["log_bodies"] == 2
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:
        for n in range(4):
            created = http.post("/crm/v3/objects/companies", json={"properties": {"name": f"C{n}"}})
            assert created.status_code == 201
    log = [entry for entry in control(hubspot, "requests") if entry["path"] == "/crm/v3/objects/companies"]
    assert [entry["status"] for entry in log] == [201, 201, 201, 201]
    assert [entry.get("trimmed", False) for entry in log] == [True, True, False, False]
    assert [entry["body"] for entry in log[:2]] == [None, None]
    assert [entry["body"]["properties"]["name"] for entry in log[2:]] == ["C2", "C3"]
    assert log[3]["response"]["properties"]["name"] == "C3"
    assert [entry["response"] for entry in log[:2]] == [None, None]
    httpx.post(f"{hubspot.base_url}/_sandbox/reset").raise_for_status()
    assert control(hubspot, "limits", {})["log_bodies"] == HubSpotSandbox.default_log_bodies


def test_the_pages_of_a_search_see_a_write_made_between_them(hubspot: SandboxServer) -> None:
    """A search's matches are kept for its next pages (issue 25, item 8), until the next write."""
    control(hubspot, "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 100})
    client = sdk(hubspot)
    inputs = [{"properties": {"name": f"Paged {n}", "domain": f"paged-{n}.example"}} for n in range(3)]
    client.crm.companies.batch_api.create({"inputs": inputs})
    named = {
        "filterGroups": [{"filters": [{"propertyName": "name", "operator": "CONTAINS_TOKEN", "value": "paged"}]}],
        "sorts": [{"propertyName": "name", "direction": "DESCENDING"}],
        "properties": ["name"],
        "limit": 2,
    }
    first = client.crm.companies.search_api.do_search(named)
    assert (first.total, [c.properties["name"] for c in first.results]) == (3, ["Paged 2", "Paged 1"])
    client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Paged 9", "domain": "p9.example"}}]})
    again = client.crm.companies.search_api.do_search({**named, "after": first.paging.next.after})
    assert (again.total, [c.properties["name"] for c in again.results]) == (4, ["Paged 1", "Paged 0"])


def test_reads_by_email_follow_creates_and_email_changes(hubspot: SandboxServer) -> None:
    """The lookups behind reads by a unique property are kept current commit by commit (issue 25, item 8)."""
    control(hubspot, "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 100})
    with httpx.Client(base_url=hubspot.base_url, headers=AUTH) as http:

        def by_email(*emails: str) -> list[str]:
            body = {"inputs": [{"id": e} for e in emails], "idProperty": "email", "properties": ["email"]}
            body["propertiesWithHistory"] = []
            found = http.post("/crm/objects/2026-09/contacts/batch/read", json=body).json()["results"]
            return sorted(str(r["properties"]["email"]) for r in found)

        def create(email: str) -> str:
            body = {"inputs": [{"properties": {"email": email}, "associations": []}]}
            return str(http.post("/crm/objects/2026-09/contacts/batch/create", json=body).json()["results"][0]["id"])

        first = create("first@lookup.example")
        assert by_email("first@lookup.example", "second@lookup.example") == ["first@lookup.example"]
        create("second@lookup.example")  # after the lookup was built
        assert by_email("first@lookup.example", "SECOND@lookup.example") == [
            "first@lookup.example",
            "second@lookup.example",
        ]
        body = {"inputs": [{"id": first, "properties": {"email": "renamed@lookup.example"}}]}
        assert http.post("/crm/objects/2026-09/contacts/batch/update", json=body).status_code == 200
        assert by_email("first@lookup.example", "renamed@lookup.example") == ["renamed@lookup.example"]
