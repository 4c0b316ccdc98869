"""The Intercom sandbox driven over real HTTP by the official python-intercom client (and raw httpx for errors)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from intercom import Intercom
from intercom.core.api_error import ApiError
from intercom.errors import NotFoundError

from healthsync.sandbox import intercom_companies
from healthsync.sandbox.base import SandboxServer
from healthsync.sandbox.intercom import IntercomSandbox
from healthsync.sandbox.intercom_store import IntercomStore

TOKEN = "test-token"


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """The httpx clients handed to SDK instances, closed after the test (filterwarnings=error sees leaks)."""
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def sdk(server: SandboxServer, opened: list[httpx.Client], version: str = "2.16") -> Intercom:
    """The client as healthsync builds it: base_url, pinned Intercom-Version, no SDK retries (default max_retries=0)."""
    opened.append(httpx.Client(timeout=5))
    return Intercom(
        token=TOKEN, base_url=server.base_url, headers={"Intercom-Version": version}, httpx_client=opened[-1]
    )


@pytest.fixture(scope="module")
def raw() -> Iterator[httpx.Client]:
    """One keep-alive client for raw calls and the control API (a new connection per call costs ~40 ms)."""
    with httpx.Client(timeout=5) as client:
        yield client


def http(raw: httpx.Client, server: SandboxServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.16", **kwargs.pop("headers", {})}
    return raw.request(method, server.base_url + path, headers=headers, **kwargs)


def control(raw: httpx.Client, server: SandboxServer, method: str, action: str, body: Any = None) -> Any:
    return raw.request(method, f"{server.base_url}/_sandbox/{action}", json=body).json()


def seed_health_attributes(client: Intercom) -> None:
    client.data_attributes.create(request={"name": "health_score", "model": "company", "data_type": "integer"})
    client.data_attributes.create(request={"name": "health_band", "model": "company", "data_type": "string"})


def test_sdk_drives_every_endpoint(intercom: SandboxServer, clients: list[httpx.Client]) -> None:
    client = sdk(intercom, clients)
    seed_health_attributes(client)
    listed = client.data_attributes.list(model="company")
    assert {"health_score", "health_band", "company_id"} <= {a.name for a in listed.data}

    created = client.companies.create_or_update(
        request={"company_id": "acme", "name": "Acme", "custom_attributes": {"health_score": 41}}
    )
    updated = client.companies.create_or_update(
        request={"company_id": "acme", "plan": "Pro", "custom_attributes": {"health_band": "amber"}}
    )
    assert (updated.id, updated.name) == (created.id, "Acme")
    assert updated.plan is not None
    assert updated.custom_attributes == {"health_score": 41, "health_band": "amber"}
    assert client.companies.retrieve(company_id="acme").id == created.id
    assert client.companies.find(created.id).company_id == "acme"

    tag = client.tags.create(request={"name": "at-risk", "companies": [{"company_id": "acme"}]})
    assert [t["name"] for t in client.companies.find(created.id).tags.tags] == ["at-risk"]
    client.tags.create(request={"name": "at-risk", "companies": [{"id": created.id, "untag": True}]})
    assert client.companies.find(created.id).tags.tags == []
    assert client.tags.create(request={"name": "At-Risk"}).id == tag.id  # names are case-insensitive

    contact = client.contacts.create(request={"email": "ada@acme.test", "external_id": "u-1"})
    assert client.companies.attach_contact(contact.id, company_id=created.id).user_count == 1
    for field, value in (("external_id", "u-1"), ("email", "ada@acme.test")):
        found = client.contacts.search(query={"field": field, "operator": "=", "value": value})
        assert [c.id for c in found.items or []] == [contact.id]
    assert client.tags.tag_contact(contact.id, tag_id=tag.id).id == tag.id
    assert client.tags.untag_contact(contact.id, tag.id).name == "at-risk"

    assert [c.id for c in client.companies.list()] == [created.id]
    assert [c.id for c in client.companies.scroll()] == [created.id]


def test_scroll_and_list_page_through_many_companies(intercom: SandboxServer, clients: list[httpx.Client]) -> None:
    client = sdk(intercom, clients)
    for n in range(20):
        client.companies.create_or_update(request={"company_id": f"c{n}", "name": f"Company {n}"})
    assert sorted(c.company_id or "" for c in client.companies.scroll()) == sorted(f"c{n}" for n in range(20))
    assert list(client.companies.list()) == []  # as documented: companies without users are not listed


def test_state_shows_companies_with_tags(
    intercom: SandboxServer, clients: list[httpx.Client], raw: httpx.Client
) -> None:
    client = sdk(intercom, clients)
    client.companies.create_or_update(request={"company_id": "acme", "name": "Acme"})
    client.tags.create(request={"name": "champion", "companies": [{"company_id": "acme"}]})
    state = control(raw, intercom, "GET", "state")
    assert set(state) == {"companies", "contacts", "tags", "data_attributes"}
    assert state["companies"][0]["tags"] == {
        "type": "tag.list",
        "tags": [{"type": "tag", "id": "101", "name": "champion"}],
    }


def test_ids_are_deterministic_for_a_seed(clients: list[httpx.Client]) -> None:
    def ids(seed: int) -> list[str]:
        with SandboxServer(IntercomSandbox(seed=seed)) as server:
            client = sdk(server, clients)
            return [client.companies.create_or_update(request={"company_id": str(n)}).id for n in range(3)]

    assert ids(3) == ids(3) != ids(4)


def test_version_header_is_echoed_and_tagging_a_missing_company_differs(
    intercom: SandboxServer, clients: list[httpx.Client], raw: httpx.Client
) -> None:
    body = {"name": "x", "companies": [{"company_id": "missing"}]}
    new = http(raw, intercom, "POST", "/tags", json=body)
    assert (new.status_code, new.headers["Intercom-Version"]) == (200, "2.16")
    assert new.json()["companies"] == [{"id": "missing", "tagged": False}]
    with pytest.raises(NotFoundError) as caught:
        sdk(intercom, clients, version="2.14").tags.create(request=body)
    assert caught.value.headers["intercom-version"] == "2.14"
    assert caught.value.body["errors"][0]["code"] == "company_not_found"
    unpinned = raw.get(intercom.base_url + "/tags", headers={"Authorization": f"Bearer {TOKEN}"})
    assert unpinned.headers["Intercom-Version"] == "2.16"  # no header: the workspace default


INVALID = [
    pytest.param("POST", "/companies", {}, {"Authorization": ""}, 401, "unauthorized", id="missing-token"),
    pytest.param(
        "POST", "/companies", {}, {"Authorization": "Bearer forbidden-token"}, 403, "api_plan_restricted", id="403"
    ),
    pytest.param("GET", "/companies?company_id=nope", None, {}, 404, "company_not_found", id="unknown-company"),
    pytest.param("GET", "/companies/0123456789abcdef01234567", None, {}, 404, "company_not_found", id="unknown-id"),
    pytest.param(
        "POST", "/companies", {"company_id": "a", "custom_attributes": {"nps": 3}}, {}, 400, "parameter_invalid",
        id="unknown-custom-attribute",
    ),
    pytest.param(
        "POST", "/companies", {"company_id": "a", "custom_attributes": {"health_score": "high"}}, {}, 400,
        "parameter_invalid", id="wrong-attribute-type",
    ),
    pytest.param(
        "POST", "/data_attributes", {"name": "health_score", "model": "company", "data_type": "integer"}, {}, 400,
        "parameter_invalid", id="attribute-already-exists",
    ),
    pytest.param(
        "POST", "/data_attributes", {"name": "x", "model": "company", "data_type": "mithril"}, {}, 400,
        "parameter_invalid", id="bad-data-type",
    ),
    pytest.param("GET", "/tags", None, {"Intercom-Version": "9.9"}, 400, "intercom_version_invalid", id="bad-version"),
    pytest.param("POST", "/companies", b"{not json", {}, 400, "bad_request", id="invalid-json"),
    pytest.param("POST", "/contacts/0123/tags", {"id": "1"}, {}, 404, "not_found", id="unknown-contact"),
    pytest.param("POST", "/companies", {"company_id": "a", "test": 1}, {}, 400, "bad_request", id="unknown-field"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), INVALID)
def test_invalid_requests_get_the_real_error(
    intercom: SandboxServer,
    clients: list[httpx.Client],
    raw: httpx.Client,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    seed_health_attributes(sdk(intercom, clients))
    content = body if isinstance(body, bytes) else None
    response = http(raw, intercom, method, path, json=None if content else body, content=content, headers=headers)
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error.list"
    assert payload["request_id"] == response.headers["X-Request-Id"]
    assert [e["code"] for e in payload["errors"]] == [code]
    assert payload["errors"][0]["message"]
    assert control(raw, intercom, "GET", "state")["companies"] == []


def test_duplicate_contact_is_a_conflict(intercom: SandboxServer, clients: list[httpx.Client]) -> None:
    client = sdk(intercom, clients)
    first = client.contacts.create(request={"external_id": "u-1"})
    with pytest.raises(ApiError) as caught:
        client.contacts.create(request={"external_id": "u-1"})
    assert caught.value.status_code == 409
    assert caught.value.body["errors"][0] == {
        "code": "conflict",
        "message": f"A contact matching those details already exists with id={first.id}",
    }


def test_rate_limit_headers_on_every_response_and_window_enforced(intercom: SandboxServer, raw: httpx.Client) -> None:
    control(raw, intercom, "PUT", "limits", {"requests_per_window": 3, "window_seconds": 1})
    responses = [http(raw, intercom, "GET", "/tags") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3"}
    reset = int(responses[-1].headers["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 2
    assert responses[-1].json()["errors"][0]["code"] == "rate_limit_exceeded"
    time.sleep(max(reset - time.time(), 0) + 0.05)
    assert http(raw, intercom, "GET", "/tags").status_code == 200


def test_fault_burst_429_looks_like_a_real_one_and_sdk_does_not_retry(
    intercom: SandboxServer, clients: list[httpx.Client], raw: httpx.Client
) -> None:
    control(raw, intercom, "PUT", "faults", {"rate_limit_burst": 1.0})
    with pytest.raises(ApiError) as caught:  # max_retries <= 2 means no retry in python-intercom 5.x
        sdk(intercom, clients).tags.list(request_options={"max_retries": 2})
    assert caught.value.status_code == 429
    assert caught.value.body["errors"][0]["code"] == "rate_limit_exceeded"
    assert caught.value.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-reset" in caught.value.headers
    assert len(control(raw, intercom, "GET", "requests")) == 1


def test_a_fault_burst_lasts_until_the_reset_it_announces(intercom: SandboxServer, raw: httpx.Client) -> None:
    control(raw, intercom, "PUT", "faults", {"rate_limit_burst": 1.0, "burst_seconds": 1.5})
    sent = time.time()
    first = http(raw, intercom, "GET", "/tags")
    control(raw, intercom, "PUT", "faults", {"burst_seconds": 1.5})  # no new burst; the one running goes on
    during = http(raw, intercom, "GET", "/tags")
    assert (first.status_code, during.status_code) == (429, 429)
    reset = int(first.headers["X-RateLimit-Reset"])
    assert sent + 1.5 <= reset <= time.time() + 2.5  # the burst's end, rounded up to a second
    time.sleep(max(reset - time.time(), 0) + 0.05)
    assert http(raw, intercom, "GET", "/tags").status_code == 200


def fault_statuses(raw: httpx.Client, server: SandboxServer, n: int = 40) -> list[int]:
    control(raw, server, "POST", "reset")
    # a burst of one request: a longer one would depend on how fast the requests come
    control(raw, server, "PUT", "faults", {"error_rate": 0.25, "rate_limit_burst": 0.05, "burst_seconds": 0})
    return [http(raw, server, "GET", "/tags").status_code for _ in range(n)]


def test_faults_happen_at_the_configured_rate_reproducibly(intercom: SandboxServer, raw: httpx.Client) -> None:
    first, second = fault_statuses(raw, intercom), fault_statuses(raw, intercom)
    assert first == second
    assert 4 <= first.count(500) <= 16  # 0.25 of ~37 requests outside bursts
    assert set(first) == {200, 429, 500}
    with SandboxServer(IntercomSandbox(seed=1)) as other:
        assert fault_statuses(raw, other) != first


@pytest.fixture
def dropping(intercom: SandboxServer, raw: httpx.Client) -> Iterator[SandboxServer]:
    control(raw, intercom, "PUT", "faults", {"drop_after_commit_rate": 1.0})
    yield intercom
    control(raw, intercom, "PUT", "faults", {})


def test_dropped_after_commit_upsert_is_stored(
    dropping: SandboxServer, clients: list[httpx.Client], raw: httpx.Client
) -> None:
    with pytest.raises(httpx.TransportError):
        sdk(dropping, clients).companies.create_or_update(request={"company_id": "acme", "name": "Acme"})
    assert [c["company_id"] for c in control(raw, dropping, "GET", "state")["companies"]] == ["acme"]
    assert control(raw, dropping, "GET", "requests")[-1]["fault"] == "dropped_after_commit"


def test_string_values_over_255_characters_and_the_251st_attribute_are_refused(
    intercom: SandboxServer, raw: httpx.Client
) -> None:
    control(raw, intercom, "PUT", "limits", {"requests_per_window": 10_000, "window_seconds": 10})
    body = {"name": "note", "model": "company", "data_type": "string"}
    assert http(raw, intercom, "POST", "/data_attributes", json=body).status_code == 200
    company = http(raw, intercom, "POST", "/companies", json={"company_id": "c1", "name": "C"}).json()
    fits = http(raw, intercom, "PUT", f"/companies/{company['id']}", json={"custom_attributes": {"note": "x" * 255}})
    assert fits.status_code == 200
    long = http(raw, intercom, "PUT", f"/companies/{company['id']}", json={"custom_attributes": {"note": "x" * 256}})
    assert long.status_code == 422
    assert long.json()["errors"][0]["code"] == "parameter_invalid"
    for n in range(249):
        created = {"name": f"f{n}", "model": "contact", "data_type": "string"}
        assert http(raw, intercom, "POST", "/data_attributes", json=created).status_code == 200
    full = http(
        raw, intercom, "POST", "/data_attributes", json={"name": "f250", "model": "company", "data_type": "string"}
    )
    assert full.status_code == 400
    assert "limit of 250" in full.json()["errors"][0]["message"]


def test_contact_search_by_email_or_external_id_sees_every_write_like_a_scan(
    intercom: SandboxServer, raw: httpx.Client
) -> None:
    """The lookup behind `=`/`IN` on email and external_id (issue 25, item 8) answers what a scan answers."""
    control(raw, intercom, "POST", "reset")
    headers = {"Authorization": f"Bearer {TOKEN}", "Intercom-Version": "2.14"}

    def post(path: str, body: Any) -> Any:
        response = raw.post(f"{intercom.base_url}{path}", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def emails(query: dict[str, Any]) -> list[str]:
        return sorted(c["email"] for c in post("/contacts/search", {"query": query})["data"])

    for n in range(3):
        post("/contacts", {"email": f"u{n}@a.example", "external_id": f"u{n}"})
    wanted = ["u0@a.example", "u2@a.example", "nobody@a.example"]
    assert emails({"field": "email", "operator": "IN", "value": wanted}) == ["u0@a.example", "u2@a.example"]
    assert emails({"field": "email", "operator": "IN", "value": ["U0@a.example"]}) == []  # exact, as the scan
    post("/contacts", {"email": "u3@a.example", "external_id": "u3"})  # written after the lookup was built
    assert emails({"field": "external_id", "operator": "IN", "value": ["u3", "u1"]}) == ["u1@a.example", "u3@a.example"]
    assert emails({"field": "email", "operator": "=", "value": "u3@a.example"}) == ["u3@a.example"]
    scanned = {"operator": "OR", "value": [{"field": "email", "operator": "~", "value": "u"}]}  # not indexed
    assert emails(scanned) == [f"u{n}@a.example" for n in range(4)]


def test_the_company_id_index_follows_creates_and_deletes() -> None:
    """Companies are looked up by company_id from an index kept in step with creates and deletes (a scan per
    upsert made seeding 100,000 companies quadratic): a deleted company is gone from it, one created again under
    the same company_id is found, and a store changed behind the index's back is indexed again."""
    store = IntercomStore(seed=1)
    for n in range(50):
        intercom_companies.upsert(store, {"company_id": f"c{n}", "name": f"Company {n}"})
    first = store.company_by_company_id("c7")
    assert first is not None
    intercom_companies.delete(store, first["id"])
    assert store.company_by_company_id("c7") is None
    again = intercom_companies.upsert(store, {"company_id": "c7", "name": "Back"})
    found = store.company_by_company_id("c7")
    assert found is not None
    assert found["id"] == again["id"] != first["id"]
    assert intercom_companies.upsert(store, {"company_id": "c8", "name": "Renamed"})["id"] == (
        store.company_by_company_id("c8") or {}
    ).get("id")
    assert len(store.companies) == 50
    extra = dict(found, id=store.object_id(), company_id="c99")
    store.companies[extra["id"]] = extra  # behind the index's back (a restored snapshot)
    assert store.company_by_company_id("c99") is extra
