"""POST /api/conversations/{id}/threads: replies, notes and what they do (reference 1.6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import (
    THREAD_KEYS,
    ApiClient,
    Desk,
    assert_created,
    assert_date,
    assert_invalid,
    assert_not_found,
    assert_short_customer,
    assert_short_user,
    count_rows,
    create_conversation,
    get_conversation,
    new_conversation,
    put,
)
from tidings.db import schema
from tidings.db.engine import Database


@pytest.fixture
def convo(client: ApiClient, desk: Desk) -> dict[str, Any]:
    return create_conversation(client, new_conversation(desk.mailbox, {"id": desk.customer}))


def _post(client: ApiClient, convo_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return assert_created(
        client.post(f"/api/conversations/{convo_id}/threads", json=body), THREAD_KEYS
    )


def test_agent_reply_shape_and_effect(client: ApiClient, desk: Desk, convo: dict[str, Any]) -> None:
    thread = _post(
        client,
        convo["id"],
        {
            "type": "message",
            "text": "<b>On its way</b>",
            "user": desk.agent,
            "to": ["cleo@example.com"],
            "cc": "x@example.com,y@example.com",
            "bcc": ["z@example.com"],
        },
    )
    assert thread["type"] == "message"
    assert thread["status"] == "nochange"
    assert thread["state"] == "published"
    assert thread["body"] == "<b>On its way</b>"
    assert thread["source"] == {"type": "api", "via": "user"}
    assert_short_user(thread["createdBy"], desk.agent)
    assert thread["customer"] is None
    assert thread["to"] == ["cleo@example.com"]
    assert thread["cc"] == ["x@example.com", "y@example.com"]
    assert thread["bcc"] == ["z@example.com"]
    assert thread["action"] == {"type": "", "text": "", "associatedEntities": []}
    assert thread["_embedded"] == {"attachments": []}
    assert_date(thread["createdAt"])

    after = get_conversation(client, convo["id"])
    # An agent reply sets the conversation to pending (FreeScout's default).
    assert after["status"] == "pending"
    assert after["threadsCount"] == 2
    assert after["preview"] == "On its way"
    assert after["customerWaitingSince"]["latestReplyFrom"] == "user"
    assert after["customerWaitingSince"]["time"] == thread["createdAt"]
    assert after["userUpdatedAt"] == thread["createdAt"]
    assert after["_embedded"]["threads"][0] == thread


def test_customer_reply(client: ApiClient, desk: Desk, convo: dict[str, Any]) -> None:
    put(client, f"/api/conversations/{convo['id']}", {"status": "closed", "byUser": desk.admin})
    # Without a customer, the conversation's customer is the author.
    thread = _post(client, convo["id"], {"type": "customer", "text": "Still nothing"})
    assert thread["source"] == {"type": "api", "via": "customer"}
    assert_short_customer(thread["customer"], desk.customer, desk.customer_email)
    assert_short_customer(thread["createdBy"], desk.customer)
    after = get_conversation(client, convo["id"])
    assert after["status"] == "active"
    assert after["closedAt"] is None
    assert after["customerWaitingSince"]["latestReplyFrom"] == "customer"
    # Another customer, found or created like the conversation's.
    other = _post(
        client,
        convo["id"],
        {"type": "customer", "text": "Me too", "customer": {"email": "friend@example.com"}},
    )
    assert other["customer"]["email"] == "friend@example.com"
    assert other["customer"]["id"] != desk.customer
    assert get_conversation(client, convo["id"])["customer"]["id"] == desk.customer


def test_note_keeps_status_unless_told(
    client: ApiClient, desk: Desk, convo: dict[str, Any]
) -> None:
    _post(client, convo["id"], {"type": "note", "text": "internal", "user": desk.admin})
    after = get_conversation(client, convo["id"])
    assert after["status"] == "active"
    assert after["threadsCount"] == 2
    assert after["customerWaitingSince"]["latestReplyFrom"] == "customer"
    note = _post(
        client,
        convo["id"],
        {"type": "note", "text": "closing", "user": desk.admin, "status": "closed"},
    )
    assert note["status"] == "closed"
    after = get_conversation(client, convo["id"])
    assert after["status"] == "closed"
    assert after["closedBy"] == desk.admin


def test_reply_with_explicit_status(client: ApiClient, desk: Desk, convo: dict[str, Any]) -> None:
    _post(
        client,
        convo["id"],
        {"type": "message", "text": "done", "user": desk.agent, "status": "closed"},
    )
    after = get_conversation(client, convo["id"])
    assert after["status"] == "closed"
    assert_short_user(after["closedByUser"], desk.agent)


def test_replies_to_a_deleted_conversation(
    client: ApiClient, desk: Desk, convo: dict[str, Any]
) -> None:
    path = f"/api/conversations/{convo['id']}"
    put(client, path, {"state": "deleted", "byUser": desk.admin})
    # A note leaves it in the trash; a customer reply brings it back.
    _post(client, convo["id"], {"type": "note", "text": "n", "user": desk.admin})
    assert get_conversation(client, convo["id"])["state"] == "deleted"
    _post(client, convo["id"], {"type": "customer", "text": "hello?"})
    assert get_conversation(client, convo["id"])["state"] == "published"


def test_draft_thread_is_answered_with_its_id_only(
    client: ApiClient, desk: Desk, convo: dict[str, Any], db: Database
) -> None:
    for state in ("draft", "Draft", "DRAFT"):
        response = client.post(
            f"/api/conversations/{convo['id']}/threads",
            json={"type": "message", "text": "not yet", "user": desk.agent, "state": state},
        )
        assert response.status_code == 201, response.text
        assert response.json() == {"id": int(response.headers["Resource-ID"])}
        published = get_conversation(client, convo["id"])["_embedded"]["threads"]
        assert response.json()["id"] not in [t["id"] for t in published]
    assert count_rows(db, schema.threads, schema.threads.c.state == 1) == 3


def test_imported_thread_keeps_its_date(
    client: ApiClient, desk: Desk, convo: dict[str, Any]
) -> None:
    body = {
        "type": "customer",
        "text": "old",
        "imported": True,
        "createdAt": "2019-05-06T07:08:09Z",
    }
    assert _post(client, convo["id"], body)["createdAt"] == "2019-05-06T07:08:09Z"
    fresh = _post(client, convo["id"], {**body, "imported": False})
    assert fresh["createdAt"].startswith("2031-")


def test_thread_errors_change_nothing(
    client: ApiClient, desk: Desk, convo: dict[str, Any], counts: Any, subtests: pytest.Subtests
) -> None:
    path = f"/api/conversations/{convo['id']}/threads"
    ok = {"type": "note", "text": "x", "user": desk.admin}
    deleted = client.post(
        "/api/users", json={"firstName": "Gone", "lastName": "Soon", "email": "gone@x.example"}
    ).json()["id"]
    assert (
        client.delete(f"/api/users/{deleted}", params={"byUserId": desk.admin}).status_code == 204
    )
    before = counts()
    # The body is the thread: its fields are named as they are in it (FreeScout's paths).
    cases = [
        ({}, "type"),
        ({**ok, "type": None}, "type"),
        ({**ok, "type": "lineitem"}, "type"),
        ({**ok, "type": "chat"}, "type"),
        ({**ok, "type": 3}, "type"),
        ({"type": "note", "user": desk.admin}, "text"),
        ({**ok, "text": ""}, "text"),
        ({**ok, "text": ["x"]}, "text"),
        ({"type": "message", "text": "x"}, "user"),
        ({**ok, "user": 999}, "user"),
        ({**ok, "user": deleted}, "user"),
        ({**ok, "user": "admin"}, "user"),
        ({"type": "customer", "text": "x", "customer": "cleo"}, "customer"),
        ({"type": "customer", "text": "x", "customer": {"id": 999}}, "customer.id"),
        ({**ok, "status": "open"}, "status"),
        ({**ok, "status": "nochange"}, "status"),
        ({**ok, "state": "hidden"}, "state"),
        ({**ok, "state": "deleted"}, "state"),
        ({**ok, "imported": "yes"}, "imported"),
        ({**ok, "imported": True, "createdAt": "soon"}, "createdAt"),
        ({**ok, "to": 5}, "to"),
        ({**ok, "cc": [1]}, "cc"),
        ({**ok, "bcc": {"x": 1}}, "bcc"),
        ({**ok, "attachments": {"fileName": "a"}}, "attachments"),
        ({**ok, "attachments": ["a"]}, "attachments[0]"),
    ]
    for body, error_path in cases:
        with subtests.test(path=error_path, body=body):
            assert_invalid(client.post(path, json=body), error_path)
    assert counts() == before
    assert get_conversation(client, convo["id"]) == convo


def test_thread_on_unknown_conversation_is_404(client: ApiClient, desk: Desk, counts: Any) -> None:
    before = counts()
    response = client.post(
        "/api/conversations/77/threads",
        json={"type": "customer", "text": "x", "customer": {"email": "n@x.example"}},
    )
    assert_not_found(response)
    assert counts() == before
