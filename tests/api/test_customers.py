"""/api/customers: create, get, list with filters, update (reference 1.5, 1.6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import (
    ADDRESS_KEYS,
    CUSTOMER_EMBEDDED_KEYS,
    CUSTOMER_KEYS,
    ApiClient,
    Desk,
    FakeClock,
    assert_created,
    assert_date,
    assert_invalid,
    assert_no_content,
    assert_not_found,
    assert_page,
    list_ids,
    put,
)

FULL = {
    "firstName": "Maria",
    "lastName": "Lopez",
    "jobTitle": "Buyer",
    "company": "Acme",
    "photoType": "gravatar",
    "photoUrl": "https://example.com/maria.png",
    "notes": "Prefers phone",
    "address": {
        "city": "Lyon",
        "state": "ARA",
        "zip": "69001",
        "country": "FR",
        "address": "1 Rue X",
    },
    "emails": [{"value": "Maria@Example.com", "type": "home"}, {"value": "m.lopez@acme.example"}],
    "phones": [{"value": "+33 4 00 00 00 01", "type": "mobile"}],
    "socialProfiles": [{"value": "@maria", "type": "twitter"}],
    "websites": [{"value": "https://maria.example"}],
}


def _create(client: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    return assert_created(client.post("/api/customers", json=body), CUSTOMER_KEYS)


def _get(client: ApiClient, customer_id: int) -> dict[str, Any]:
    response = client.get(f"/api/customers/{customer_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_full_customer(client: ApiClient) -> None:
    customer = _create(client, FULL)
    assert customer["firstName"] == "Maria"
    assert customer["lastName"] == "Lopez"
    assert customer["jobTitle"] == "Buyer"
    assert customer["company"] == "Acme"
    assert customer["photoType"] == "gravatar"
    assert customer["photoUrl"] == "https://example.com/maria.png"
    assert customer["notes"] == "Prefers phone"
    assert_date(customer["createdAt"])
    assert_date(customer["updatedAt"])
    embedded = customer["_embedded"]
    assert set(embedded) == CUSTOMER_EMBEDDED_KEYS
    emails = embedded["emails"]
    assert [set(e) for e in emails] == [{"id", "value", "type"}] * 2
    assert [(e["value"], e["type"]) for e in emails] == [
        ("maria@example.com", "home"),
        ("m.lopez@acme.example", "work"),
    ]
    assert all(isinstance(e["id"], int) and e["id"] > 0 for e in emails)
    assert embedded["phones"] == [{"id": 0, "value": "+33 4 00 00 00 01", "type": "mobile"}]
    assert embedded["social_profiles"] == [{"id": 0, "value": "@maria", "type": "twitter"}]
    assert embedded["websites"] == [{"id": 0, "value": "https://maria.example"}]
    assert set(embedded["address"]) == ADDRESS_KEYS
    assert embedded["address"] == FULL["address"]
    assert _get(client, customer["id"]) == customer


def test_create_minimal_customers(client: ApiClient) -> None:
    named = _create(client, {"firstName": "Solo"})
    assert named["lastName"] is None
    assert named["photoType"] is None
    assert named["_embedded"] == {
        "emails": [],
        "phones": [],
        "social_profiles": [],
        "websites": [],
        "address": dict.fromkeys(ADDRESS_KEYS),
    }
    mailed = _create(client, {"email": "only@example.com", "phone": "555-0100"})
    assert mailed["firstName"] is None
    assert [(e["value"], e["type"]) for e in mailed["_embedded"]["emails"]] == [
        ("only@example.com", "work")
    ]
    assert mailed["_embedded"]["phones"] == [{"id": 0, "value": "555-0100", "type": "work"}]
    # The same address twice (any case, any type) is stored once.
    twice = _create(
        client,
        {
            "email": "Twice@Example.com",
            "emails": [{"value": "twice@example.com", "type": "home"}, "TWICE@example.com"],
        },
    )
    assert [(e["value"], e["type"]) for e in twice["_embedded"]["emails"]] == [
        ("twice@example.com", "work")
    ]


def test_duplicate_emails(client: ApiClient, desk: Desk, counts: Any) -> None:
    before = counts()
    [error] = assert_invalid(
        client.post("/api/customers", json={"firstName": "Copy", "email": desk.customer_email}),
        "emails",
    )
    assert error["message"] == "Customers with such email(s) already exist"
    assert_invalid(
        client.post("/api/customers", json={"emails": [{"value": "CLEO@example.com"}]}), "emails"
    )
    assert counts() == before
    # When only some exist, the customer is created with the new ones.
    partly = _create(client, {"emails": [desk.customer_email, "fresh@example.com"]})
    assert [e["value"] for e in partly["_embedded"]["emails"]] == ["fresh@example.com"]
    assert [e["value"] for e in _get(client, desk.customer)["_embedded"]["emails"]] == [
        desk.customer_email
    ]


def test_create_errors(
    client: ApiClient, desk: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    before = counts()
    cases = [
        ({}, "firstName"),
        ({"lastName": "Only"}, "firstName"),
        ({"firstName": ""}, "firstName"),
        ({"firstName": 5}, "firstName"),
        ({"firstName": "x" * 41}, "firstName"),
        ({"firstName": "A", "lastName": ["x"]}, "lastName"),
        ({"firstName": "A", "lastName": "x" * 41}, "lastName"),
        ({"firstName": "A", "jobTitle": "x" * 61}, "jobTitle"),
        ({"firstName": "A", "company": "x" * 61}, "company"),
        ({"firstName": "A", "notes": 5}, "notes"),
        ({"firstName": "A", "photoType": "selfie"}, "photoType"),
        ({"firstName": "A", "photoType": 1}, "photoType"),
        ({"firstName": "A", "address": "Lyon"}, "address"),
        ({"firstName": "A", "address": {"city": 69}}, "address.city"),
        ({"email": 5}, "email"),
        ({"email": "no-at-sign"}, "email"),
        ({"email": "x" * 190 + "@example.com"}, "email"),
        ({"emails": "a@example.com"}, "emails"),
        ({"emails": [{"value": "nope"}]}, "emails[0].value"),
        ({"emails": [{"type": "work"}]}, "emails[0].value"),
        ({"emails": [5]}, "emails[0]"),
        ({"emails": ["nope"]}, "emails[0]"),
        ({"emails": [{"value": "y" * 190 + "@example.com"}]}, "emails[0].value"),
        ({"emails": [{"value": "a@example.com", "type": "office"}]}, "emails[0].type"),
        ({"firstName": "A", "phone": 5}, "phone"),
        ({"firstName": "A", "phones": "555"}, "phones"),
        ({"firstName": "A", "phones": [{"value": 555}]}, "phones[0].value"),
        ({"firstName": "A", "phones": [{"value": "5", "type": "cell"}]}, "phones[0].type"),
        ({"firstName": "A", "socialProfiles": [{}]}, "socialProfiles[0].value"),
        ({"firstName": "A", "websites": ["https://x.example"]}, "websites[0]"),
        ({"firstName": "A", "websites": [{"value": 5}]}, "websites[0].value"),
    ]
    for body, path in cases:
        with subtests.test(path=path, body=body):
            assert_invalid(client.post("/api/customers", json=body), path)
    assert counts() == before


def test_get_unknown_customer(client: ApiClient) -> None:
    assert_not_found(client.get("/api/customers/12"))
    assert_invalid(client.get("/api/customers/twelve"))


def test_customer_fields_module_is_not_installed(client: ApiClient, desk: Desk) -> None:
    response = client.put(f"/api/customers/{desk.customer}/customer_fields", json={})
    assert response.status_code == 400
    assert response.json() == {
        "message": "Customer Fields module is not installed or not activated",
        "_embedded": {"errors": []},
    }


@pytest.fixture
def people(client: ApiClient, clock: FakeClock) -> dict[str, dict[str, Any]]:
    made = {}
    for name, body in (
        ("ann", {"firstName": "Ann", "lastName": "Zeta", "email": "ann@example.com"}),
        ("bob", {"firstName": "Bob", "lastName": "Young", "phone": "+1 (555) 010-2030"}),
        ("cat", {"firstName": "Cat", "lastName": "Xeno", "phones": [{"value": "5550109999"}]}),
        ("annie", {"firstName": "Annie", "lastName": "Zeta", "email": "annie@example.com"}),
    ):
        made[name] = _create(client, body)
    return made


def test_list_customers(
    client: ApiClient, people: dict[str, dict[str, Any]], subtests: pytest.Subtests
) -> None:
    body = client.get("/api/customers").json()
    items = assert_page(body, "customers", size=50, total=4)
    assert [c["id"] for c in items] == [people[n]["id"] for n in ("annie", "cat", "bob", "ann")]
    assert items[-1] == people["ann"]

    by_id = {c["id"]: name for name, c in people.items()}
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"firstName": "Ann"}, ["ann"]),
        ({"firstName": "An"}, []),
        ({"lastName": "Zeta"}, ["annie", "ann"]),
        ({"firstName": "Ann", "lastName": "Zeta"}, ["ann"]),
        ({"email": "ann@example.com"}, ["ann"]),
        ({"email": "ANNIE@example.com"}, ["annie"]),
        ({"email": "nobody@example.com"}, []),
        ({"phone": "555 010 9999"}, ["cat"]),
        ({"phone": "0109999"}, ["cat"]),
        ({"phone": "+1 (555) 010-2030"}, ["bob"]),
        ({"phone": "4444"}, []),
        ({"updatedSince": people["cat"]["updatedAt"]}, ["annie", "cat"]),
        ({"updatedSince": "2099-01-01T00:00:00Z"}, []),
        ({"sortOrder": "asc"}, ["ann", "bob", "cat", "annie"]),
        ({"sortField": "createdAt", "sortOrder": "asc"}, ["ann", "bob", "cat", "annie"]),
        ({"sortField": "firstName", "sortOrder": "asc"}, ["ann", "annie", "bob", "cat"]),
        ({"sortField": "firstName"}, ["cat", "bob", "annie", "ann"]),
        ({"sortField": "lastName", "sortOrder": "asc"}, ["cat", "bob", "ann", "annie"]),
        ({"sortField": "updatedAt"}, ["annie", "cat", "bob", "ann"]),
        ({"pageSize": 2, "page": 2}, ["bob", "ann"]),
    ]
    for params, expected in cases:
        with subtests.test(**params):
            assert [by_id[i] for i in list_ids(client, "/api/customers", **params)] == expected
    paged = client.get("/api/customers", params={"pageSize": 3, "page": 2}).json()
    assert len(assert_page(paged, "customers", size=3, total=4, number=2)) == 1


def test_list_customer_errors(client: ApiClient) -> None:
    assert_invalid(client.get("/api/customers", params={"sortField": "email"}), "sortField")
    assert_invalid(client.get("/api/customers", params={"sortOrder": "random"}), "sortOrder")
    assert_invalid(client.get("/api/customers", params={"updatedSince": "now"}), "updatedSince")


def test_update_customer(client: ApiClient, desk: Desk) -> None:
    customer = _create(client, FULL)
    path = f"/api/customers/{customer['id']}"
    put(client, path, {"firstName": "Marie", "address": {"city": "Paris"}, "phone": "+33 1"})
    got = _get(client, customer["id"])
    assert got["firstName"] == "Marie"
    assert got["lastName"] == "Lopez"  # untouched
    assert got["updatedAt"] > customer["updatedAt"]
    assert got["createdAt"] == customer["createdAt"]
    assert got["_embedded"]["address"] == {
        "city": "Paris",
        "state": None,
        "zip": None,
        "country": None,
        "address": None,
    }
    assert got["_embedded"]["phones"] == [{"id": 0, "value": "+33 1", "type": "work"}]
    assert got["_embedded"]["emails"] == customer["_embedded"]["emails"]

    # `emails` (strings) replaces the list ...
    put(client, path, {"emails": ["new@example.com", "Second@Example.com"]})
    emails = _get(client, customer["id"])["_embedded"]["emails"]
    assert [e["value"] for e in emails] == ["new@example.com", "second@example.com"]
    # ... which frees the old addresses for others.
    _create(client, {"email": "maria@example.com"})

    # `emails_add` appends, skipping addresses the customer already has.
    put(client, path, {"emails_add": ["third@example.com", "NEW@example.com"]})
    emails = _get(client, customer["id"])["_embedded"]["emails"]
    assert [e["value"] for e in emails] == [
        "new@example.com",
        "second@example.com",
        "third@example.com",
    ]
    put(client, path, {"emails": []})
    assert _get(client, customer["id"])["_embedded"]["emails"] == []


def test_update_customer_errors_change_nothing(
    client: ApiClient, desk: Desk, subtests: pytest.Subtests
) -> None:
    customer = _create(client, FULL)
    path = f"/api/customers/{customer['id']}"
    cases = [
        ({"emails": [desk.customer_email]}, "emails"),
        ({"emails_add": [desk.customer_email]}, "emails_add"),
        ({"emails": "new@example.com"}, "emails"),
        ({"emails": ["not-an-email"]}, "emails[0]"),
        ({"emails_add": [{"value": 5}]}, "emails_add[0].value"),
        ({"firstName": "x" * 41}, "firstName"),
        ({"firstName": "Ok", "photoType": "bad"}, "photoType"),
        ({"phones": [{"value": "1", "type": "satellite"}]}, "phones[0].type"),
        ({"address": [1]}, "address"),
        # The first change is undone with the second's error.
        ({"emails": ["x@example.com"], "emails_add": ["cleo@example.com"]}, "emails_add"),
    ]
    for body, error_path in cases:
        with subtests.test(path=error_path, body=body):
            assert_invalid(client.put(path, json=body), error_path)
    assert _get(client, customer["id"]) == customer
    assert_not_found(client.put("/api/customers/999", json={"firstName": "x"}))
    assert_no_content(client.put(path, json={}))
