"""Authentication (reference 1.1) and the error surface every endpoint shares (1.2, 1.3).

Each endpoint Tidings registers (other than the pages of /api/events and /api/operations)
is listed once in ``ENDPOINTS``; the parametrized tests below walk all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.api.support import (
    API_KEY,
    ApiClient,
    Desk,
    assert_invalid,
    assert_not_found,
    new_conversation,
)
from tidings.db import schema
from tidings.db.engine import Database

# (method, path) for every route; ids are filled in with 1, which exists in a seeded desk.
ENDPOINTS = [
    ("GET", "/api/conversations"),
    ("GET", "/api/conversations/digest"),
    ("POST", "/api/conversations"),
    ("GET", "/api/conversations/1"),
    ("PUT", "/api/conversations/1"),
    ("DELETE", "/api/conversations/1"),
    ("POST", "/api/conversations/1/threads"),
    ("PUT", "/api/conversations/1/tags"),
    ("PUT", "/api/conversations/1/custom_fields"),
    ("GET", "/api/conversations/1/timelogs"),
    ("POST", "/api/conversations/1/merge"),
    ("GET", "/api/customers"),
    ("POST", "/api/customers"),
    ("GET", "/api/customers/1"),
    ("PUT", "/api/customers/1"),
    ("PUT", "/api/customers/1/customer_fields"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/1"),
    ("DELETE", "/api/users/1"),
    ("GET", "/api/mailboxes"),
    ("POST", "/api/mailboxes"),
    ("GET", "/api/mailboxes/1/folders"),
    ("GET", "/api/mailboxes/1/custom_fields"),
    ("DELETE", "/api/mailboxes/1"),
    ("GET", "/api/tags"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/webhooks"),
    ("GET", "/api/webhooks/1"),
    ("PUT", "/api/webhooks/1"),
    ("DELETE", "/api/webhooks/1"),
    ("POST", "/api/webhooks/1/rotate-secret"),
    ("GET", "/api/webhooks/1/deliveries"),
    ("POST", "/api/webhooks/1/test"),
    ("POST", "/api/webhooks/1/redeliver"),
    ("GET", "/api/attachments/1/data"),
    ("GET", "/api/operations/1/items"),
    # Refused before the stream begins; the stream itself: tests/acceptance/test_event_stream.
    ("GET", "/api/events/stream"),
]

# The endpoints that read a JSON body.
BODY_ENDPOINTS = [
    ("POST", "/api/conversations"),
    ("PUT", "/api/conversations/1"),
    ("POST", "/api/conversations/1/threads"),
    ("PUT", "/api/conversations/1/tags"),
    ("POST", "/api/conversations/1/merge"),
    ("POST", "/api/customers"),
    ("PUT", "/api/customers/1"),
    ("POST", "/api/users"),
    ("POST", "/api/mailboxes"),
    ("POST", "/api/webhooks"),
    ("PUT", "/api/webhooks/1"),
    ("POST", "/api/webhooks/1/redeliver"),
]


@pytest.fixture
def seeded(client: ApiClient, desk: Desk) -> Desk:
    """A desk with conversation 1 (and its thread 1 with attachment 1) and webhook 1."""
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [
        {"fileName": "a.txt", "mimeType": "text/plain", "data": "YQ=="}
    ]
    assert client.post("/api/conversations", json=body).status_code == 201
    webhook = {"url": "https://93.184.216.34/hook", "events": ["convo.created"]}
    assert client.post("/api/webhooks", json=webhook).status_code == 201
    return desk


def _snapshot(db: Database) -> dict[str, list[Any]]:
    with db.read() as conn:
        return {
            name: sorted(map(repr, conn.execute(select(table)).all()))
            for name, table in schema.metadata.tables.items()
        }


def test_endpoint_list_covers_every_route(app: FastAPI) -> None:
    """ENDPOINTS (and so the tests in tests/api) cover every /api route but the two
    tested elsewhere; a new route fails this until it is added."""
    registered = {
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in app.openapi()["paths"].items()
        if not path.startswith(("/api/events", "/api/operations"))
        or path in ("/api/operations/{op_id}/items", "/api/events/stream")
        for method in operations
    }
    assert registered == set(ENDPOINTS)


# --- authentication ------------------------------------------------------------------


def test_every_endpoint_refuses_a_missing_or_wrong_key(
    anonymous: ApiClient, seeded: Desk, db: Database, subtests: pytest.Subtests
) -> None:
    before = _snapshot(db)
    for method, path in ENDPOINTS:
        with subtests.test(f"{method} {path}"):
            for headers in ({}, {"X-FreeScout-API-Key": "wrong"}, {"X-FreeScout-API-Key": ""}):
                response = anonymous.request(method, path, json={"name": "x"}, headers=headers)
                assert response.status_code == 401, (headers, response.text)
                assert response.json() == {"message": "Not Authorized"}
            response = anonymous.request(method, path, params={"api_key": "wrong"})
            assert response.status_code == 401
            assert response.json() == {"message": "Not Authorized"}
    # Nothing was created, changed or deleted on the way to the 401s.
    assert _snapshot(db) == before


def test_api_key_as_query_parameter(anonymous: ApiClient) -> None:
    response = anonymous.get("/api/users", params={"api_key": API_KEY})
    assert response.status_code == 200
    assert response.json()["_embedded"]["users"] == []


def test_api_key_in_json_body(anonymous: ApiClient, db: Database) -> None:
    response = anonymous.post(
        "/api/users",
        json={"api_key": API_KEY, "firstName": "Bo", "lastName": "Dy", "email": "bo@x.example"},
    )
    assert response.status_code == 201, response.text
    wrong = anonymous.post(
        "/api/users",
        json={"api_key": "nope", "firstName": "Bo", "lastName": "Dy", "email": "b2@x.example"},
    )
    assert wrong.status_code == 401
    with db.read() as conn:
        emails = list(conn.execute(select(schema.users.c.email)).scalars())
    assert emails == ["bo@x.example"]


def test_api_key_header_is_case_insensitive_and_key_is_exact(anonymous: ApiClient) -> None:
    def status(key: str, header: str = "X-FreeScout-API-Key") -> int:
        return int(anonymous.get("/api/tags", headers={header: key}).status_code)

    assert status(API_KEY, "x-freescout-api-key") == 200
    assert status(API_KEY + "x") == 401
    assert status(API_KEY.upper()) == 401
    assert status(API_KEY[:-1]) == 401


def test_a_wrong_query_key_is_not_rescued_by_a_right_header(anonymous: ApiClient) -> None:
    # FreeScout reads `api_key` first and the header only when there is none.
    response = anonymous.get(
        "/api/tags", params={"api_key": "wrong"}, headers={"X-FreeScout-API-Key": API_KEY}
    )
    assert response.status_code == 401


def test_unauthenticated_unknown_route_is_404_not_401(anonymous: ApiClient) -> None:
    assert_not_found(anonymous.get("/api/nothing-here"))


# --- routing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/nothing-here", "/api/conversations/1/nothing", "/nothing", "/api/v1"]
)
def test_unknown_route_is_404(client: ApiClient, path: str) -> None:
    assert_not_found(client.get(path))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/conversations"),
        ("DELETE", "/api/conversations"),
        ("PUT", "/api/customers"),
        ("POST", "/api/customers/1"),
        ("DELETE", "/api/tags"),
        ("POST", "/api/attachments/1/data"),
        ("PATCH", "/api/webhooks/1"),
        ("POST", "/api/users/1"),
        ("PUT", "/api/mailboxes"),
    ],
)
def test_wrong_method_is_405(client: ApiClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.json() == "Method Not Allowed"


@pytest.mark.parametrize("path", ["/api/conversations", "/api/users", "/api/conversations/1"])
def test_head_is_refused(client: ApiClient, path: str) -> None:
    # Reference 1.1: list and get endpoints reject non-GET methods, HEAD included.
    assert client.head(path).status_code == 405


# --- request bodies ------------------------------------------------------------------


NOT_OBJECTS = [
    (b'{"subject": "unterminated', "not valid JSON"),
    (b"{'single': 'quotes'}", "not valid JSON"),
    (b'{"a": 1,}', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"a string"', "must be a JSON object"),
    (b"42", "must be a JSON object"),
    (b"null", "must be a JSON object"),
]


def test_body_that_is_not_a_json_object_is_400(
    client: ApiClient, seeded: Desk, db: Database, subtests: pytest.Subtests
) -> None:
    before = _snapshot(db)
    for method, path in BODY_ENDPOINTS:
        for raw, message in NOT_OBJECTS:
            with subtests.test(f"{method} {path} {raw!r}"):
                response = client.request(
                    method, path, content=raw, headers={"Content-Type": "application/json"}
                )
                [error] = assert_invalid(response, "body")
                assert message in error["message"]
    assert _snapshot(db) == before


def assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body == {"message": body["message"], "_embedded": {"errors": []}}
    assert "4096" in body["message"]


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 4096}])
def test_oversized_body_is_413(
    client: ApiClient, anonymous: ApiClient, seeded: Desk, db: Database, subtests: pytest.Subtests
) -> None:
    before = _snapshot(db)
    big = {"subject": "x" * 5000, "name": "n", "email": "big@x.example"}
    for method, path in BODY_ENDPOINTS:
        with subtests.test(f"{method} {path}"):
            assert_too_large(client.request(method, path, json=big))
            # With the key in the body, the body is read under the same limit.
            assert_too_large(anonymous.request(method, path, json={**big, "api_key": API_KEY}))
    assert _snapshot(db) == before


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 4096}])
def test_oversized_body_without_content_length_is_413(
    client: ApiClient, anonymous: ApiClient, counts: Any
) -> None:
    before = counts()

    def chunks() -> Iterator[bytes]:
        yield b'{"firstName": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'", "email": "chunked@x.example"}'

    assert_too_large(client.post("/api/customers", content=chunks()))
    assert_too_large(anonymous.post("/api/customers", content=chunks()))
    assert counts() == before


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 4096}])
def test_body_just_under_the_limit_is_accepted(client: ApiClient) -> None:
    body = {"firstName": "Al", "notes": ""}
    body["notes"] = "n" * (4096 - len(b'{"firstName":"Al","notes":""}'))
    response = client.post("/api/customers", content=orjson.dumps(body))
    assert response.status_code == 201, response.text


def test_empty_body_counts_as_an_empty_object(client: ApiClient, desk: Desk) -> None:
    # The required fields are then reported one by one, as FreeScout does.
    assert_invalid(client.post("/api/conversations", content=b""), "type")
    assert_invalid(client.post("/api/users", content=b"  "), "firstName")


# --- pagination (reference 1.3) --------------------------------------------------------

LISTS = [
    "/api/conversations",
    "/api/customers",
    "/api/users",
    "/api/mailboxes",
    "/api/mailboxes/1/folders",
    "/api/tags",
]


BAD_PAGES = [
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "abc"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page": ""}, "page"),
    ({"pageSize": "0"}, "pageSize"),
    ({"pageSize": "-5"}, "pageSize"),
    ({"pageSize": "501"}, "pageSize"),
    ({"pageSize": "ten"}, "pageSize"),
    ({"page": "99999999999999999999"}, "page"),
    ({"page": str(2**63)}, "page"),
]


def test_invalid_page_or_page_size_is_400(
    client: ApiClient, desk: Desk, subtests: pytest.Subtests
) -> None:
    for path in LISTS:
        for params, field in BAD_PAGES:
            with subtests.test(f"{path} {params}"):
                assert_invalid(client.get(path, params=params), field)


def test_a_page_past_the_end_is_empty(client: ApiClient, desk: Desk) -> None:
    body = client.get("/api/mailboxes", params={"page": "3", "pageSize": "1"}).json()
    assert body == {
        "_embedded": {"mailboxes": []},
        "page": {"size": 1, "totalElements": 2, "totalPages": 2, "number": 3},
    }
    # Any page up to 2^63 - 1, whatever pageSize: openapi.json can state that range.
    far = client.get("/api/mailboxes", params={"page": str(2**62), "pageSize": "500"}).json()
    assert far["_embedded"]["mailboxes"] == []
    assert far["page"]["number"] == 2**62


@pytest.mark.parametrize("settings_overrides", [{"max_page_size": 3}])
def test_page_size_limit_follows_settings(client: ApiClient, desk: Desk) -> None:
    assert client.get("/api/users", params={"pageSize": "3"}).status_code == 200
    assert_invalid(client.get("/api/users", params={"pageSize": "4"}), "pageSize")


# --- numbers and text the database cannot hold ----------------------------------------


BIG = "99999999999999999999"


def test_id_beyond_64_bits_is_not_found(client: ApiClient, desk: Desk) -> None:
    body = {"tags": [], "conversationId": 1, "byUser": desk.admin}
    for method, path in ENDPOINTS:
        if "/1" not in path or "_fields" in path or "timelogs" in path:
            continue  # the module endpoints answer 400 "module not installed" for any id
        big = path.replace("/1", f"/{BIG}", 1)
        response = client.request(method, big, params={"byUserId": desk.admin}, json=body)
        assert_not_found(response)
    assert_not_found(client.get(f"/api/conversations/{2**63}"))
    assert client.get(f"/api/conversations/{2**63 - 1}").status_code == 404


QUERY_NUMBERS = [
    ("/api/conversations", "customerId"),
    ("/api/conversations", "folderId"),
    ("/api/conversations", "createdByUserId"),
    ("/api/conversations", "createdByCustomerId"),
    ("/api/conversations", "mailboxId"),
    ("/api/conversations", "assignedTo"),
    ("/api/conversations", "number"),
    ("/api/conversations/digest", "mailboxId"),
    ("/api/conversations/digest", "buckets"),
    ("/api/conversations/digest", "bucket"),
    ("/api/tags", "conversationId"),
    ("/api/mailboxes", "userId"),
    ("/api/mailboxes/1/folders", "userId"),
    ("/api/mailboxes/1/folders", "folderId"),
]


def test_query_number_beyond_64_bits_is_400(
    client: ApiClient, desk: Desk, subtests: pytest.Subtests
) -> None:
    for path, param in QUERY_NUMBERS:
        with subtests.test(f"{path}?{param}"):
            assert_invalid(client.get(path, params={param: BIG}), param)


def test_body_number_beyond_64_bits_is_400(client: ApiClient, desk: Desk, counts: Any) -> None:
    before = counts()
    for value in (2**63, 2**64 - 1, -(2**63) - 1):
        body = new_conversation(value)
        assert_invalid(client.post("/api/conversations", json=body), "mailboxId")
    assert counts() == before


def test_nul_character_in_body_is_400_on_every_database(
    client: ApiClient, desk: Desk, counts: Any
) -> None:
    # PostgreSQL cannot store NUL in text; SQLite could. The API refuses it on both.
    before = counts()
    body = new_conversation(desk.mailbox, subject="bad\u0000subject")
    assert_invalid(client.post("/api/conversations", json=body), "body")
    assert_invalid(client.post("/api/customers", json={"firstName": "a\u0000"}), "body")
    assert counts() == before
    # A literal backslash-u sequence is ordinary text.
    ok = client.post("/api/customers", json={"firstName": "back\\u0000slash"})
    assert ok.status_code == 201
    assert ok.json()["firstName"] == "back\\u0000slash"


QUERY_TEXTS = [
    ("/api/conversations", "subject"),
    ("/api/conversations", "customerEmail"),
    ("/api/conversations", "customerPhone"),
    ("/api/conversations", "tag"),
    ("/api/customers", "firstName"),
    ("/api/customers", "email"),
    ("/api/customers", "phone"),
    ("/api/users", "email"),
]
# Extensions whose parameters take fixed words: the word with a NUL inside, and the word.
QUERY_WORDS = [
    ("/api/events", "type", "convo.created"),
    ("/api/operations", "status", "queued"),
]


def test_nul_character_in_query_is_400_on_every_database(
    client: ApiClient, desk: Desk, subtests: pytest.Subtests
) -> None:
    for path, param in QUERY_TEXTS:
        with subtests.test(f"{path}?{param}"):
            assert_invalid(client.get(path, params={param: "a\u0000b"}), param)
    # The same filters without NUL answer normally.
    for path, param in QUERY_TEXTS:
        with subtests.test(f"{path}?{param} plain"):
            assert client.get(path, params={param: "ab"}).status_code == 200
    for path, param, word in QUERY_WORDS:
        with subtests.test(f"{path}?{param}"):
            assert_invalid(client.get(path, params={param: word[:3] + "\u0000" + word[3:]}), param)
            assert client.get(path, params={param: word}).status_code == 200


def test_authentication_comes_before_the_nul_check(anonymous: ApiClient) -> None:
    assert anonymous.get("/api/conversations", params={"subject": "a\u0000b"}).status_code == 401


# --- CORS (reference 1.1) ------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"cors_hosts": "https://app.example"}])
def test_cors_preflight_is_answered_before_authentication(
    anonymous: ApiClient, client: ApiClient
) -> None:
    preflight = anonymous.options("/api/conversations")
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert preflight.headers["Access-Control-Allow-Headers"] == (
        "Content-Type,Authorization,X-FreeScout-API-Key"
    )
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, OPTIONS"
    # Real requests carry the headers too, and still need the key.
    response = client.get("/api/users")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    refused = anonymous.get("/api/users")
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_no_cors_headers_without_cors_hosts(client: ApiClient) -> None:
    response = client.get("/api/users")
    assert "Access-Control-Allow-Origin" not in response.headers
