"""Helpers for the API tests (no tests here): shapes from reference 1.5, error checks.

Every key set below is FreeScout's ``ApiWebhooks::formatEntity`` output
(shared/reference/freescout-api.md, section 1.5); a test that compares a response
to one of them fails on a missing *and* on an extra key.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tidings.db.engine import Database

with warnings.catch_warnings():
    # starlette.testclient warns at import when it falls back to httpx (not httpx2).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

API_KEY = "test-key"
HEADERS = {"X-FreeScout-API-Key": API_KEY}

CONVERSATION_KEYS = {
    "id",
    "number",
    "threadsCount",
    "type",
    "folderId",
    "status",
    "state",
    "subject",
    "preview",
    "mailboxId",
    "assignee",
    "createdBy",
    "createdAt",
    "updatedAt",
    "closedBy",
    "closedByUser",
    "closedAt",
    "userUpdatedAt",
    "customerWaitingSince",
    "source",
    "cc",
    "bcc",
    "customer",
    "_embedded",
}
SHORT_PERSON_KEYS = {"id", "type", "firstName", "lastName", "photoUrl", "email"}
THREAD_KEYS = {
    "id",
    "type",
    "status",
    "state",
    "action",
    "body",
    "source",
    "customer",
    "createdBy",
    "assignedTo",
    "to",
    "cc",
    "bcc",
    "createdAt",
    "openedAt",
    "_embedded",
}
ATTACHMENT_KEYS = {"id", "fileName", "fileUrl", "mimeType", "size"}
USER_KEYS = {
    "id",
    "firstName",
    "lastName",
    "email",
    "role",
    "alternateEmails",
    "jobTitle",
    "phone",
    "timezone",
    "photoUrl",
    "language",
    "createdAt",
    "updatedAt",
}
CUSTOMER_KEYS = {
    "id",
    "firstName",
    "lastName",
    "jobTitle",
    "company",
    "photoType",
    "photoUrl",
    "createdAt",
    "updatedAt",
    "notes",
    "_embedded",
}
CUSTOMER_EMBEDDED_KEYS = {"emails", "phones", "social_profiles", "websites", "address"}
ADDRESS_KEYS = {"city", "state", "zip", "country", "address"}
MAILBOX_KEYS = {"id", "name", "email", "createdAt", "updatedAt"}
FOLDER_KEYS = {"id", "name", "type", "userId", "totalCount", "activeCount", "meta"}
# FreeScout's five, then Tidings'.
WEBHOOK_KEYS = {
    "id", "url", "events", "lastRunTime", "lastRunError",
    "mailboxes", "enabled", "format", "orderedDelivery", "maxConcurrency", "health",
    "createdAt", "updatedAt",
}  # fmt: skip
# The creation's answer adds the signing secret (shown only then) and the dropped names.
CREATED_WEBHOOK_KEYS = WEBHOOK_KEYS | {"secret", "ignoredEvents"}
TAG_KEYS = {"id", "name", "counter", "color"}
PAGE_KEYS = {"size", "totalElements", "totalPages", "number"}

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Desk:
    """What the ``desk`` fixture seeded (ids)."""

    admin: int
    agent: int
    mailbox: int
    mailbox2: int
    customer: int
    customer_email: str


class FakeClock:
    """Starts at a fixed instant and moves one second on every reading, so every
    write transaction gets its own, strictly increasing time."""

    def __init__(self) -> None:
        self.now = datetime(2031, 3, 4, 10, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        value = self.now
        self.now += timedelta(seconds=1)
        return value


class ApiClient(TestClient):
    """A TestClient that fails the test on any 5xx: the API must never answer 500."""

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        assert response.status_code < 500, (
            f"{method} {url} answered {response.status_code}: {response.text[:500]}"
        )
        return response


def assert_date(value: Any) -> None:
    assert isinstance(value, str), value
    assert DATE.match(value), value


def assert_short_user(value: Any, user_id: int) -> None:
    assert set(value) == SHORT_PERSON_KEYS
    assert value["id"] == user_id
    assert value["type"] == "user"


def assert_short_customer(value: Any, customer_id: int, email: str | None = None) -> None:
    assert set(value) == SHORT_PERSON_KEYS
    assert value["id"] == customer_id
    assert value["type"] == "customer"
    if email is not None:
        assert value["email"] == email


def assert_page(body: Any, key: str, *, size: int, total: int, number: int = 1) -> list[Any]:
    """The HAL-like list: ``_embedded.<key>`` plus the page object; returns the items."""
    assert set(body) == {"_embedded", "page"}
    assert set(body["_embedded"]) == {key}
    assert set(body["page"]) == PAGE_KEYS
    pages = -(-total // size)
    assert body["page"] == {
        "size": size,
        "totalElements": total,
        "totalPages": pages,
        "number": number,
    }
    items: list[Any] = body["_embedded"][key]
    return items


def assert_invalid(response: Any, path: str | None = None) -> list[dict[str, Any]]:
    """FreeScout's 400: ``Error occurred`` with ``{path, message, source}`` errors."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"message", "_embedded"}
    assert body["message"] == "Error occurred"
    assert set(body["_embedded"]) == {"errors"}
    errors: list[dict[str, Any]] = body["_embedded"]["errors"]
    for error in errors:
        assert set(error) == {"path", "message", "source"}
        assert isinstance(error["message"], str)
        assert error["message"]
    if path is not None:
        assert [e["path"] for e in errors] == [path], errors
    return errors


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"message": "Not Found", "_embedded": {"errors": []}}


def assert_created(response: Any, keys: set[str]) -> dict[str, Any]:
    """201, a ``Resource-ID`` header naming the new id, and the entity as the body."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == keys
    assert response.headers["Resource-ID"] == str(body["id"])
    return body


def assert_no_content(response: Any) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""


def customer_thread(text: str = "Hello, my parcel is late") -> dict[str, Any]:
    return {"type": "customer", "text": text}


def new_conversation(
    mailbox_id: int, customer: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "email",
        "mailboxId": mailbox_id,
        "subject": "Where is my parcel?",
        "customer": customer or {"email": "pat@example.com"},
        "threads": [customer_thread()],
    }
    body.update(extra)
    return body


def count_rows(db: Database, table: Any, *where: Any) -> int:
    with db.read() as conn:
        query = select(func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int(conn.execute(query).scalar_one())


def create_conversation(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/conversations", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def get_conversation(client: Any, convo_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/conversations/{convo_id}", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def list_ids(client: Any, path: str = "/api/conversations", **params: Any) -> list[int]:
    """The ids on one page of a list endpoint, in the order given."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    [items] = response.json()["_embedded"].values()
    return [item["id"] for item in items]


def folders(client: Any, mailbox_id: int, **params: Any) -> dict[tuple[int, int | None], Any]:
    """The mailbox's folders keyed by (type, userId)."""
    response = client.get(f"/api/mailboxes/{mailbox_id}/folders", params=params)
    assert response.status_code == 200, response.text
    return {(f["type"], f["userId"]): f for f in response.json()["_embedded"]["folders"]}


def put(client: Any, path: str, body: dict[str, Any]) -> None:
    assert_no_content(client.put(path, json=body))
