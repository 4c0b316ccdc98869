"""The HubSpot sandbox driven by the official SDK over real HTTP: endpoints, shapes and HubSpot's validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.companies import ApiException
from hubspot.crm.properties import ApiException as PropertiesApiException

from healthsync.sandbox.base import SandboxServer


def sdk(server: SandboxServer, token: str = "test-token") -> HubSpot:
    """The official client pointed at the sandbox.

    Every keyword of ``HubSpot(...)`` is set on the ``Configuration`` of each sub-API's client, so ``host`` points
    all of them (companies, contacts, objects.tasks, properties, owners, associations.v4) at the base URL;
    ``retry=False`` turns urllib3's retries off and ``client_side_validation`` makes the SDK check required fields.
    """
    return HubSpot(access_token=token, host=server.base_url, retry=False, client_side_validation=True)


def control(server: SandboxServer, action: str, body: dict[str, Any] | None = None) -> Any:
    method = "GET" if body is None else "PUT"
    response = httpx.request(method, f"{server.base_url}/_sandbox/{action}", json=body)
    response.raise_for_status()
    return response.json()


def no_lag(server: SandboxServer) -> None:
    control(server, "limits", {"search_index_lag_seconds": 0})


HEALTH_PROPERTIES: list[dict[str, Any]] = [
    {"name": "health_score", "label": "Health score", "type": "number", "fieldType": "number"},
    {
        "name": "health_tier",
        "label": "Health tier",
        "type": "enumeration",
        "fieldType": "select",
        "options": [
            {"label": "Healthy", "value": "healthy", "hidden": False},
            {"label": "At risk", "value": "at_risk", "hidden": False},
        ],
    },
    {
        "name": "health_plays",
        "label": "Plays",
        "type": "enumeration",
        "fieldType": "checkbox",
        "options": [
            {"label": "Expansion", "value": "expansion", "hidden": False},
            {"label": "Churn risk", "value": "churn_risk", "hidden": False},
        ],
    },
    {"name": "health_scored_at", "label": "Scored at", "type": "datetime", "fieldType": "date"},
    {"name": "health_renewal", "label": "Renewal", "type": "date", "fieldType": "date"},
    {"name": "health_summary", "label": "Summary", "type": "string", "fieldType": "textarea"},
    {"name": "health_flag", "label": "Flag", "type": "bool", "fieldType": "booleancheckbox"},
    {"name": "account_id", "label": "Account id", "type": "string", "fieldType": "text", "hasUniqueValue": True},
]


@pytest.fixture
def client(hubspot: SandboxServer) -> HubSpot:
    """The SDK against a sandbox with the "Customer health" group and its company properties."""
    client = sdk(hubspot)
    client.crm.properties.groups_api.create("companies", {"name": "customer_health", "label": "Customer health"})
    for prop in HEALTH_PROPERTIES:
        client.crm.properties.core_api.create("companies", {**prop, "groupName": "customer_health"})
    return client


def test_properties_and_groups_are_created_and_read_with_their_types(client: HubSpot) -> None:
    groups = client.crm.properties.groups_api.get_all("companies").results
    assert [group.name for group in groups] == ["companyinformation", "customer_health"]
    props = {prop.name: prop for prop in client.crm.properties.core_api.get_all("companies").results}
    assert {"name", "domain", "hs_additional_domains", "hubspot_owner_id", "lifecyclestage", "hs_object_id"} <= set(
        props
    )
    assert (props["health_plays"].type, props["health_plays"].field_type) == ("enumeration", "checkbox")
    assert [option.value for option in props["health_flag"].options] == ["true", "false"]
    assert props["account_id"].has_unique_value is True
    tier = client.crm.properties.core_api.get_by_name("companies", "health_tier")
    assert [option.label for option in tier.options] == ["Healthy", "At risk"]
    task_props = {prop.name for prop in client.crm.properties.core_api.get_all("tasks").results}
    assert {"hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority", "hs_timestamp"} <= task_props
    assert {"email", "firstname"} <= {prop.name for prop in client.crm.properties.core_api.get_all("contacts").results}


def test_companies_batch_create_read_update_and_upsert(client: HubSpot) -> None:
    batch = client.crm.companies.batch_api
    created = batch.create(
        {
            "inputs": [
                {
                    "properties": {
                        "name": "Acme",
                        "domain": "acme.com",
                        "account_id": "acc-1",
                        "health_score": "71.50",
                        "health_plays": "expansion;churn_risk",
                        "health_renewal": "2025-01-01",
                        "health_scored_at": "1700000000000",
                        "health_flag": True,
                    }
                }
            ]
        }
    ).results[0]
    assert created.properties["health_score"] == "71.5"
    assert created.properties["health_plays"] == "expansion;churn_risk"
    assert created.properties["health_renewal"] == "2025-01-01"
    assert created.properties["health_scored_at"] == "2023-11-14T22:13:20.000Z"
    assert created.properties["health_flag"] == "true"
    assert created.properties["hs_object_id"] == created.id
    assert all(isinstance(value, str) for value in created.properties.values())

    by_id = batch.read({"inputs": [{"id": created.id}], "properties": ["name", "health_score"]}).results[0]
    assert by_id.properties == {"name": "Acme", "health_score": "71.5"}
    by_key = batch.read({"inputs": [{"id": "acc-1"}], "idProperty": "account_id", "properties": ["name"]})
    assert [record.id for record in by_key.results] == [created.id]

    updated = batch.update({"inputs": [{"id": created.id, "properties": {"health_tier": "at_risk"}}]}).results[0]
    assert updated.properties["health_tier"] == "at_risk"
    assert client.crm.companies.basic_api.get_by_id(created.id, properties=["health_tier"]).properties == {
        "health_tier": "at_risk"
    }

    upserted = batch.upsert(
        {
            "inputs": [
                {"idProperty": "account_id", "id": "acc-1", "properties": {"health_score": "10"}},
                {"idProperty": "account_id", "id": "acc-2", "properties": {"name": "Beta"}},
            ]
        }
    ).results
    assert [(record.new, record.properties.get("account_id")) for record in upserted] == [
        (False, "acc-1"),
        (True, "acc-2"),
    ]
    assert upserted[0].id == created.id


def test_contacts_batch_create_upsert_by_email_and_search(hubspot: SandboxServer) -> None:
    client = sdk(hubspot)
    no_lag(hubspot)
    created = client.crm.contacts.batch_api.create(
        {"inputs": [{"properties": {"email": "ada@acme.com", "firstname": "Ada"}}]}
    ).results[0]
    upserted = client.crm.contacts.batch_api.upsert(
        {"inputs": [{"idProperty": "email", "id": "ada@acme.com", "properties": {"firstname": "Ada L."}}]}
    ).results[0]
    assert (upserted.id, upserted.new) == (created.id, False)
    found = client.crm.contacts.search_api.do_search(
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "ADA@acme.com"}]}]}
    )
    assert found.total == 1
    assert found.results[0].properties["firstname"] == "Ada L."


def test_reads_by_email_follow_every_write_after_the_lookup_was_built(hubspot: SandboxServer) -> None:
    """The sandbox answers reads by a unique property from a lookup built once per write (issue 25: it scanned
    every record per input): a changed, archived or merged contact is found as it is now, never as it was."""
    client = sdk(hubspot)
    contacts = client.crm.contacts.batch_api
    made = contacts.create(
        {"inputs": [{"properties": {"email": f"u{n}@acme.com", "firstname": f"U{n}"}} for n in range(3)]}
    ).results
    ids = {record.properties["email"]: record.id for record in made}

    def by_email(*emails: str) -> dict[str, str]:
        found = contacts.read({"inputs": [{"id": e} for e in emails], "idProperty": "email", "properties": ["email"]})
        return {str(record.properties["email"]): str(record.id) for record in found.results}

    assert by_email("U0@ACME.com", "u1@acme.com") == {
        "u0@acme.com": ids["u0@acme.com"],
        "u1@acme.com": ids["u1@acme.com"],
    }
    contacts.update({"inputs": [{"id": ids["u0@acme.com"], "properties": {"email": "zero@acme.com"}}]})
    assert by_email("u0@acme.com", "zero@acme.com") == {"zero@acme.com": ids["u0@acme.com"]}
    contacts.archive({"inputs": [{"id": ids["u1@acme.com"]}]})
    assert by_email("u1@acme.com") == {}
    again = contacts.create({"inputs": [{"properties": {"email": "u1@acme.com"}}]}).results[0]
    assert by_email("u1@acme.com") == {"u1@acme.com": again.id}
    merge = {"primaryObjectId": again.id, "objectIdToMerge": ids["u2@acme.com"]}
    headers = {"Authorization": "Bearer test-token"}
    url = f"{hubspot.base_url}/crm/v3/objects/contacts/merge"
    httpx.post(url, json=merge, headers=headers, timeout=30).raise_for_status()
    assert by_email("u2@acme.com") == {}  # the merged contact's unique email stays with it, archived


def test_company_search_by_domain_additional_domains_and_custom_property(
    client: HubSpot, hubspot: SandboxServer
) -> None:
    control(hubspot, "limits", {"search_index_lag_seconds": 0, "search_requests_per_second": 50})
    inputs = [
        {"properties": {"name": "Acme", "domain": "acme.com", "account_id": "acc-1"}},
        {"properties": {"name": "Acme EU", "domain": "acme.eu", "hs_additional_domains": "acme.de;acme.com"}},
        {"properties": {"name": "Beta", "domain": "beta.io", "account_id": "acc-2", "health_tier": "healthy"}},
    ]
    client.crm.companies.batch_api.create({"inputs": inputs})
    search = client.crm.companies.search_api.do_search

    def names(*filters: dict[str, Any], **extra: Any) -> list[str]:
        body = {"filterGroups": [{"filters": [item]} for item in filters], "properties": ["name"], **extra}
        return [record.properties["name"] for record in search(body).results]

    assert names({"propertyName": "domain", "operator": "EQ", "value": "acme.com"}) == ["Acme"]
    both = names(
        {"propertyName": "domain", "operator": "EQ", "value": "acme.com"},
        {"propertyName": "hs_additional_domains", "operator": "CONTAINS_TOKEN", "value": "acme.com"},
    )
    assert both == ["Acme", "Acme EU"]
    assert names({"propertyName": "account_id", "operator": "IN", "values": ["acc-2", "acc-9"]}) == ["Beta"]
    assert names({"propertyName": "health_tier", "operator": "HAS_PROPERTY"}) == ["Beta"]
    assert names({"propertyName": "account_id", "operator": "NOT_HAS_PROPERTY"}) == ["Acme EU"]
    everyone = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
    assert names(everyone, sorts=[{"propertyName": "name", "direction": "DESCENDING"}]) == ["Beta", "Acme EU", "Acme"]
    first = search({"filterGroups": [{"filters": [everyone]}], "limit": 2})
    assert (first.total, len(first.results), first.paging.next.after) == (3, 2, "2")
    rest = search({"filterGroups": [{"filters": [everyone]}], "limit": 2, "after": first.paging.next.after})
    assert len(rest.results) == 1
    assert rest.paging is None


def test_tasks_with_associations_updates_and_search(client: HubSpot, hubspot: SandboxServer) -> None:
    no_lag(hubspot)
    company = client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Acme"}}]}).results[0]
    contact = client.crm.contacts.batch_api.create({"inputs": [{"properties": {"email": "a@acme.com"}}]}).results[0]
    owner = client.crm.owners.owners_api.get_page().results[0]
    to_company = {
        "to": {"id": company.id},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
    }
    task_properties = {
        "hs_task_subject": "Churn risk: Acme",
        "hs_task_body": "Usage dropped 40% (play churn_risk, 2024-W10)",
        "hs_task_priority": "HIGH",
        "hs_timestamp": "2024-03-08T09:00:00Z",
        "hubspot_owner_id": owner.id,
    }
    task = client.crm.objects.tasks.batch_api.create(
        {"inputs": [{"properties": task_properties, "associations": [to_company]}]}
    ).results[0]
    assert task.properties["hs_task_status"] == "NOT_STARTED"

    pages = client.crm.associations.v4.basic_api.get_page("companies", company.id, "tasks").results
    assert [(page.to_object_id, page.association_types[0].type_id) for page in pages] == [(task.id, 191)]
    linked = client.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        {
            "inputs": [
                {
                    "from": {"id": contact.id},
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ]
        },
    ).results[0]
    assert (linked.from_object_type_id, linked.to_object_type_id, linked.to_object_id) == ("0-1", "0-2", company.id)
    labelled = client.crm.associations.v4.basic_api.create(
        "contacts",
        contact.id,
        "companies",
        company.id,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert labelled.labels == ["Primary"]
    read = client.crm.associations.v4.batch_api.get_page("companies", "contacts", {"inputs": [{"id": company.id}]})
    assert sorted(spec.type_id for spec in read.results[0].to[0].association_types) == [2, 280]

    client.crm.objects.tasks.batch_api.update(
        {"inputs": [{"id": task.id, "properties": {"hs_task_status": "COMPLETED"}}]}
    )
    search = client.crm.objects.tasks.search_api.do_search
    by_subject = {"propertyName": "hs_task_subject", "operator": "CONTAINS_TOKEN", "value": "churn"}
    done = {"propertyName": "hs_task_status", "operator": "EQ", "value": "COMPLETED"}
    by_body = {"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN", "value": "2024-W10"}
    found = search({"filterGroups": [{"filters": [by_subject, done, by_body]}], "properties": ["hs_task_status"]})
    assert [(record.id, record.properties["hs_task_status"]) for record in found.results] == [(task.id, "COMPLETED")]
    state = control(hubspot, "state")
    assert {
        "from_type": "tasks",
        "from_id": task.id,
        "to_type": "companies",
        "to_id": company.id,
        "type_id": 192,
    } in state["associations"]


def test_owners_are_seeded_deterministically(hubspot: SandboxServer) -> None:
    owners = sdk(hubspot).crm.owners.owners_api.get_page().results
    assert len(owners) == 3
    assert all(owner.id.isdigit() and owner.email and owner.type == "PERSON" for owner in owners)
    hubspot.sandbox.reset()
    assert [owner.id for owner in sdk(hubspot).crm.owners.owners_api.get_page().results] == [
        owner.id for owner in owners
    ]
    assert control(hubspot, "state")["owners"][0]["id"] == owners[0].id


def _create(props: dict[str, Any]) -> Callable[[HubSpot], Any]:
    return lambda client: client.crm.companies.batch_api.create({"inputs": [{"properties": props}]})


def _search(**body: Any) -> Callable[[HubSpot], Any]:
    return lambda client: client.crm.companies.search_api.do_search(body)


INVALID = [
    ("unknown property", _create({"nope": "1"}), 400, "VALIDATION_ERROR", "PROPERTY_DOESNT_EXIST"),
    ("bad enum option", _create({"health_tier": "purple"}), 400, "VALIDATION_ERROR", "INVALID_OPTION"),
    ("bad multi option", _create({"health_plays": "expansion;nope"}), 400, "VALIDATION_ERROR", "INVALID_OPTION"),
    ("non-numeric number", _create({"health_score": "high"}), 400, "VALIDATION_ERROR", "INVALID_DECIMAL"),
    ("non-midnight date", _create({"health_renewal": "2025-01-01T10:00:00Z"}), 400, "VALIDATION_ERROR", "INVALID_DATE"),
    (
        "bad property name",
        lambda client: client.crm.properties.core_api.create(
            "companies",
            {"name": "Bad Name", "label": "x", "type": "string", "fieldType": "text", "groupName": "customer_health"},
        ),
        400,
        "VALIDATION_ERROR",
        None,
    ),
    ("duplicate unique value", _create({"account_id": "taken"}), 409, "CONFLICT", None),
    (
        "upsert by non-unique property",
        lambda client: client.crm.companies.batch_api.upsert(
            {"inputs": [{"idProperty": "domain", "id": "acme.com", "properties": {"name": "Acme"}}]}
        ),
        400,
        "VALIDATION_ERROR",
        None,
    ),
    (
        "more than 100 inputs",
        lambda client: client.crm.companies.batch_api.create(
            {"inputs": [{"properties": {"name": str(i)}} for i in range(101)]}
        ),
        400,
        "VALIDATION_ERROR",
        None,
    ),
    ("search limit above 200", _search(limit=201), 400, "VALIDATION_ERROR", None),
    ("paging past 10,000", _search(limit=100, after="10000"), 400, "VALIDATION_ERROR", None),
]


@pytest.mark.parametrize(
    ("call", "status", "category", "code"), [case[1:] for case in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_requests_get_hubspots_status_and_error_body(
    client: HubSpot,
    hubspot: SandboxServer,
    call: Callable[[HubSpot], Any],
    status: int,
    category: str,
    code: str | None,
) -> None:
    client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Holder", "account_id": "taken"}}]})
    with pytest.raises((ApiException, PropertiesApiException)) as caught:
        call(client)
    body = json.loads(caught.value.body)
    assert caught.value.status == status
    assert (body["status"], body["category"]) == ("error", category)
    assert body["message"]
    assert body["correlationId"]
    if code is not None:
        assert [error["code"] for error in body["errors"]] == [code]
        assert body["message"].startswith("Property values were not valid: [")
    assert len(control(hubspot, "state")["companies"]) == 1


def test_upsert_by_non_unique_property_names_it(client: HubSpot) -> None:
    with pytest.raises(ApiException) as caught:
        client.crm.companies.batch_api.upsert({"inputs": [{"idProperty": "domain", "id": "a.com", "properties": {}}]})
    assert (
        json.loads(caught.value.body)["message"] == "Unable to perform update/upsert by non-unique 0-2 property domain"
    )


def test_partial_failure_is_207_with_errors_named_by_trace_id(client: HubSpot, hubspot: SandboxServer) -> None:
    inputs = [
        {"objectWriteTraceId": "ok", "properties": {"name": "Good", "account_id": "a-1"}},
        {"objectWriteTraceId": "bad-enum", "properties": {"name": "Bad", "health_tier": "purple"}},
        {"objectWriteTraceId": "dup", "properties": {"name": "Dup", "account_id": "a-1"}},
    ]
    response = client.crm.companies.batch_api.create({"inputs": inputs})
    assert type(response).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert response.num_errors == 2
    assert [error.context["objectWriteTraceId"] for error in response.errors] == [["bad-enum"], ["dup"]]
    assert [error.category for error in response.errors] == ["VALIDATION_ERROR", "CONFLICT"]
    assert response.errors[0].errors[0].code == "INVALID_OPTION"
    assert [(record.object_write_trace_id, record.properties["name"]) for record in response.results] == [
        ("ok", "Good")
    ]
    assert [record["properties"]["name"] for record in control(hubspot, "state")["companies"]] == ["Good"]


def test_batch_read_of_missing_ids_is_207(client: HubSpot) -> None:
    created = client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Acme"}}]}).results[0]
    response = client.crm.companies.batch_api.read({"inputs": [{"id": created.id}, {"id": "404"}]})
    assert [record.id for record in response.results] == [created.id]
    assert (response.num_errors, response.errors[0].category, response.errors[0].context) == (
        1,
        "OBJECT_NOT_FOUND",
        {"ids": ["404"]},
    )


@pytest.mark.parametrize(
    ("headers", "status", "category"),
    [
        ({}, 401, "INVALID_AUTHENTICATION"),
        ({"Authorization": "Basic abc"}, 401, "INVALID_AUTHENTICATION"),
        ({"Authorization": "Bearer forbidden-token"}, 403, "MISSING_SCOPES"),
    ],
)
def test_bad_auth_is_refused_like_hubspot(
    hubspot: SandboxServer, headers: dict[str, str], status: int, category: str
) -> None:
    response = httpx.get(f"{hubspot.base_url}/crm/v3/objects/companies", headers=headers)
    body = response.json()
    assert (response.status_code, body["status"], body["category"]) == (status, "error", category)
    assert body["correlationId"]
    with pytest.raises(ApiException) as caught:
        sdk(hubspot, token="forbidden-token").crm.companies.basic_api.get_page()
    assert caught.value.status == 403
    assert json.loads(caught.value.body)["errors"][0]["context"]["requiredScopes"] == ["crm.objects.companies.read"]


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "category"),
    [
        ("GET", "/crm/v3/nothing/here", None, 404, "OBJECT_NOT_FOUND"),
        ("GET", "/crm/v3/objects/companies/99", None, 404, "OBJECT_NOT_FOUND"),
        ("POST", "/crm/v3/objects/companies/batch/create", b"{not json", 400, "VALIDATION_ERROR"),
        ("POST", "/crm/v3/objects/widgets/batch/create", b'{"inputs": []}', 400, "VALIDATION_ERROR"),
    ],
)
def test_unknown_routes_objects_and_bad_json(
    hubspot: SandboxServer, method: str, path: str, content: bytes | None, status: int, category: str
) -> None:
    headers = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
    response = httpx.request(method, f"{hubspot.base_url}{path}", content=content, headers=headers)
    assert (response.status_code, response.json()["category"]) == (status, category)
    assert set(response.json()) >= {"status", "message", "correlationId", "category"}


def test_state_snapshot_and_write_classification(client: HubSpot, hubspot: SandboxServer) -> None:
    client.crm.companies.batch_api.create({"inputs": [{"properties": {"name": "Acme"}}]})
    client.crm.companies.batch_api.read({"inputs": [{"id": "1"}]})
    client.crm.companies.search_api.do_search({"limit": 1})
    state = control(hubspot, "state")
    assert set(state) == {
        "property_groups",
        "properties",
        "companies",
        "contacts",
        "tasks",
        "associations",
        "owners",
        "legacy_requests",
    }
    assert [prop["name"] for prop in state["properties"]["companies"]] == [prop["name"] for prop in HEALTH_PROPERTIES]
    assert set(state["companies"][0]) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    writes = {
        (entry["method"], entry["path"].rsplit("/", 1)[-1]): entry["write"] for entry in control(hubspot, "requests")
    }
    assert writes[("POST", "groups")] is True
    assert writes[("POST", "create")] is True
    assert writes[("POST", "read")] is False
    assert writes[("POST", "search")] is False
