"""/api/users: create, get, list, delete with reassignment (reference 1.5, 1.6)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import (
    USER_KEYS,
    ApiClient,
    Desk,
    assert_created,
    assert_date,
    assert_invalid,
    assert_no_content,
    assert_not_found,
    assert_page,
    assert_short_user,
    create_conversation,
    folders,
    get_conversation,
    list_ids,
    new_conversation,
)
from tidings.db.engine import Database
from tidings.desk import users
from tidings.desk.enums import Role
from tidings.events.outbox import transaction

ASSIGNED, UNASSIGNED, MINE = 40, 1, 20


def _create(client: ApiClient, **extra: Any) -> dict[str, Any]:
    body = {"firstName": "Una", "lastName": "User", "email": "una@desk.example", **extra}
    return assert_created(client.post("/api/users", json=body), USER_KEYS)


def test_create_and_get_user(client: ApiClient) -> None:
    user = _create(
        client,
        email="  Una@Desk.Example ",
        password="s3cret-pass",
        alternateEmails="una2@desk.example, una3@desk.example",
        jobTitle="Support lead",
        phone="+44 20 0000 0000",
        timezone="Europe/London",
        photoUrl="https://example.com/una.png",
    )
    assert user["firstName"] == "Una"
    assert user["lastName"] == "User"
    assert user["email"] == "una@desk.example"
    assert user["role"] == "user"
    assert user["alternateEmails"] == "una2@desk.example, una3@desk.example"
    assert user["jobTitle"] == "Support lead"
    assert user["phone"] == "+44 20 0000 0000"
    assert user["timezone"] == "Europe/London"
    assert user["photoUrl"] == "https://example.com/una.png"
    assert user["language"] == "en"
    assert_date(user["createdAt"])
    assert_date(user["updatedAt"])
    response = client.get(f"/api/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user
    assert "password" not in response.text
    assert "s3cret" not in response.text


def test_create_user_defaults(client: ApiClient) -> None:
    user = _create(client)
    assert user["alternateEmails"] == ""
    assert user["jobTitle"] is None
    assert user["phone"] is None
    assert user["timezone"] == "UTC"
    assert user["photoUrl"] is None


def test_create_user_errors(
    client: ApiClient, desk: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    ok = {"firstName": "A", "lastName": "B", "email": "ab@desk.example"}
    before = counts()
    cases = [
        ({"lastName": "B", "email": "ab@desk.example"}, "firstName"),
        ({"firstName": "A", "email": "ab@desk.example"}, "lastName"),
        ({"firstName": "A", "lastName": "B"}, "email"),
        ({**ok, "firstName": ""}, "firstName"),
        ({**ok, "firstName": 1}, "firstName"),
        ({**ok, "firstName": "x" * 41}, "firstName"),
        ({**ok, "lastName": None}, "lastName"),
        ({**ok, "email": "not-an-address"}, "email"),
        ({**ok, "email": ["ab@desk.example"]}, "email"),
        ({**ok, "email": "ADA@desk.example"}, "email"),
        ({**ok, "password": 12345678}, "password"),
        ({**ok, "jobTitle": "x" * 101}, "jobTitle"),
        ({**ok, "phone": 5}, "phone"),
        ({**ok, "timezone": "x" * 65}, "timezone"),
        ({**ok, "photoUrl": "x" * 256}, "photoUrl"),
        ({**ok, "alternateEmails": ["a@b.c"]}, "alternateEmails"),
    ]
    for body, path in cases:
        with subtests.test(path=path, body=body):
            assert_invalid(client.post("/api/users", json=body), path)
    assert counts() == before


def test_get_unknown_user(client: ApiClient) -> None:
    assert_not_found(client.get("/api/users/5"))
    assert_invalid(client.get("/api/users/five"))


def test_list_users(client: ApiClient, desk: Desk) -> None:
    una = _create(client)
    body = client.get("/api/users").json()
    items = assert_page(body, "users", size=50, total=3)
    # Newest first.
    assert [u["id"] for u in items] == [una["id"], desk.agent, desk.admin]
    assert items[0] == una
    assert all(set(u) == USER_KEYS for u in items)
    assert items[2]["role"] == "admin"
    assert list_ids(client, "/api/users", email="ADA@desk.example") == [desk.admin]
    assert list_ids(client, "/api/users", email="nobody@desk.example") == []
    paged = client.get("/api/users", params={"pageSize": 2, "page": 2}).json()
    assert [u["id"] for u in assert_page(paged, "users", size=2, total=3, number=2)] == [desk.admin]


def test_delete_user_reassigns_their_conversations(
    client: ApiClient, desk: Desk, db: Database
) -> None:
    una = _create(client)["id"]
    mine = [
        create_conversation(client, new_conversation(mailbox, assignTo=desk.agent))["id"]
        for mailbox in (desk.mailbox, desk.mailbox2, desk.mailbox2)
    ]
    other = create_conversation(client, new_conversation(desk.mailbox, assignTo=desk.admin))["id"]
    # mailbox 2's conversations go to Una; mailbox 1's become unassigned.
    response = client.delete(
        f"/api/users/{desk.agent}",
        params={"byUserId": desk.admin, f"assignTo[{desk.mailbox2}]": una},
    )
    assert_no_content(response)
    first = get_conversation(client, mine[0])
    assert first["assignee"] is None
    assert first["folderId"] == folders(client, desk.mailbox)[(UNASSIGNED, None)]["id"]
    for convo_id in mine[1:]:
        got = get_conversation(client, convo_id)
        assert_short_user(got["assignee"], una)
        assert got["folderId"] == folders(client, desk.mailbox2)[(ASSIGNED, None)]["id"]
        line = next(t for t in got["_embedded"]["threads"] if t["type"] == "lineitem")
        assert line["action"]["text"] == "Ada Admin assigned to Una User"
    assert_short_user(get_conversation(client, other)["assignee"], desk.admin)
    # The user is gone from reads, and from the conversation filters' point of view.
    assert_not_found(client.get(f"/api/users/{desk.agent}"))
    assert desk.agent not in list_ids(client, "/api/users")
    assert list_ids(client, assignedTo=desk.agent) == []
    # Deleting twice is refused; so is acting as a deleted user.
    assert_invalid(client.delete(f"/api/users/{desk.agent}", params={"byUserId": desk.admin}))
    assert_invalid(client.delete(f"/api/users/{una}", params={"byUserId": desk.agent}), "byUserId")


def test_delete_user_errors(client: ApiClient, desk: Desk, db: Database, counts: Any) -> None:
    una = _create(client)["id"]
    before = counts()
    path = f"/api/users/{una}"
    assert_invalid(client.delete(path), "byUserId")
    assert_invalid(client.delete(path, params={"byUserId": ""}), "byUserId")
    assert_invalid(client.delete(path, params={"byUserId": "admin"}), "byUserId")
    assert_invalid(client.delete(path, params={"byUserId": 999}), "byUserId")
    assert_invalid(
        client.delete(path, params={"byUserId": desk.admin, "assignTo[x]": 1}), "assignTo[x]"
    )
    assert_invalid(
        client.delete(path, params={"byUserId": desk.admin, f"assignTo[{desk.mailbox}]": "y"}),
        f"assignTo[{desk.mailbox}]",
    )
    assert_invalid(
        client.delete(path, params={"byUserId": desk.admin, f"assignTo[{desk.mailbox}]": 999}),
        f"assignTo[{desk.mailbox}]",
    )
    assert_not_found(client.delete("/api/users/999", params={"byUserId": desk.admin}))
    assert counts() == before


def test_the_last_admin_cannot_be_deleted(
    client: ApiClient, desk: Desk, db: Database, clock: Any
) -> None:
    [error] = assert_invalid(
        client.delete(f"/api/users/{desk.admin}", params={"byUserId": desk.agent})
    )
    assert "administrator" in error["message"]
    assert client.get(f"/api/users/{desk.admin}").status_code == 200
    with transaction(db, clock) as tx:
        second = users.create_user(
            tx, {"firstName": "Sec", "lastName": "Ond", "email": "sec@desk.example"}, Role.ADMIN
        )
    assert_no_content(client.delete(f"/api/users/{desk.admin}", params={"byUserId": second}))
    assert_invalid(client.delete(f"/api/users/{second}", params={"byUserId": second}))
    assert client.get(f"/api/users/{second}").json()["role"] == "admin"
