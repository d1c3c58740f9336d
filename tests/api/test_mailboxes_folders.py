"""/api/mailboxes and their folders; folder counters through a conversation's life."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.support import (
    FOLDER_KEYS,
    MAILBOX_KEYS,
    ApiClient,
    Desk,
    assert_created,
    assert_date,
    assert_invalid,
    assert_no_content,
    assert_not_found,
    assert_page,
    count_rows,
    create_conversation,
    folders,
    list_ids,
    new_conversation,
    put,
)
from tidings.db import schema
from tidings.db.engine import Database
from tidings.operations.runner import Runner

# (type, name) in the order the API lists them (by type).
MAILBOX_WIDE = [
    (1, "Unassigned"),
    (30, "Drafts"),
    (40, "Assigned"),
    (60, "Closed"),
    (70, "Deleted"),
    (80, "Spam"),
]


def test_create_mailbox(client: ApiClient, desk: Desk) -> None:
    mailbox = assert_created(
        client.post("/api/mailboxes", json={"name": "Sales", "email": " Sales@Desk.Example"}),
        MAILBOX_KEYS,
    )
    assert mailbox["name"] == "Sales"
    assert mailbox["email"] == "sales@desk.example"
    assert_date(mailbox["createdAt"])
    assert_date(mailbox["updatedAt"])
    assert list_ids(client, "/api/mailboxes") == [desk.mailbox, desk.mailbox2, mailbox["id"]]


def test_create_mailbox_errors(
    client: ApiClient, desk: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    ok = {"name": "Sales", "email": "sales@desk.example"}
    before = counts()
    cases = [
        ({"email": "sales@desk.example"}, "name"),
        ({"name": "Sales"}, "email"),
        ({**ok, "name": ""}, "name"),
        ({**ok, "name": 7}, "name"),
        ({**ok, "name": "x" * 129}, "name"),
        ({**ok, "email": "sales"}, "email"),
        ({**ok, "email": "x" * 192}, "email"),
        ({**ok, "email": "SUPPORT@desk.example"}, "email"),
        ({**ok, "userIds": desk.admin}, "userIds"),
        ({**ok, "userIds": [str(desk.admin)]}, "userIds"),
        ({**ok, "userIds": [True]}, "userIds"),
        ({**ok, "userIds": [desk.admin, 999]}, "userIds"),
    ]
    for body, path in cases:
        with subtests.test(path=path, body=body):
            assert_invalid(client.post("/api/mailboxes", json=body), path)
    assert counts() == before


def test_list_mailboxes(client: ApiClient, desk: Desk) -> None:
    private = client.post(
        "/api/mailboxes",
        json={"name": "Private", "email": "private@desk.example", "userIds": [desk.admin]},
    ).json()["id"]
    body = client.get("/api/mailboxes").json()
    items = assert_page(body, "mailboxes", size=50, total=3)
    assert [m["id"] for m in items] == [desk.mailbox, desk.mailbox2, private]
    assert all(set(m) == MAILBOX_KEYS for m in items)
    assert [m["name"] for m in items] == ["Support", "Billing", "Private"]
    # userId: the mailboxes that user can open; an admin opens all.
    assert list_ids(client, "/api/mailboxes", userId=desk.agent) == [desk.mailbox, desk.mailbox2]
    assert list_ids(client, "/api/mailboxes", userId=desk.admin) == [
        desk.mailbox,
        desk.mailbox2,
        private,
    ]
    newcomer = client.post(
        "/api/users", json={"firstName": "N", "lastName": "C", "email": "nc@desk.example"}
    ).json()["id"]
    assert list_ids(client, "/api/mailboxes", userId=newcomer) == []
    nobody = client.get("/api/mailboxes", params={"userId": 999}).json()
    assert assert_page(nobody, "mailboxes", size=50, total=0) == []
    paged = client.get("/api/mailboxes", params={"pageSize": 2, "page": 2}).json()
    assert [m["id"] for m in assert_page(paged, "mailboxes", size=2, total=3, number=2)] == [
        private
    ]
    assert_invalid(client.get("/api/mailboxes", params={"userId": "x"}), "userId")


def test_folder_listing(client: ApiClient, desk: Desk) -> None:
    body = client.get(f"/api/mailboxes/{desk.mailbox}/folders").json()
    items = assert_page(body, "folders", size=50, total=10)
    assert all(set(f) == FOLDER_KEYS for f in items)
    assert all(f["meta"] == {} for f in items)
    assert all((f["totalCount"], f["activeCount"]) == (0, 0) for f in items)
    assert [(f["type"], f["name"], f["userId"]) for f in items] == [
        (1, "Unassigned", None),
        (20, "Mine", desk.admin),
        (20, "Mine", desk.agent),
        (25, "Starred", desk.admin),
        (25, "Starred", desk.agent),
        (30, "Drafts", None),
        (40, "Assigned", None),
        (60, "Closed", None),
        (70, "Deleted", None),
        (80, "Spam", None),
    ]
    # userId: the mailbox-wide folders and that user's own.
    mine = client.get(
        f"/api/mailboxes/{desk.mailbox}/folders", params={"userId": desk.agent}
    ).json()
    got = assert_page(mine, "folders", size=50, total=8)
    assert {f["userId"] for f in got} == {None, desk.agent}
    # folderId: that one folder.
    closed = next(f for f in items if f["type"] == 60)
    one = client.get(
        f"/api/mailboxes/{desk.mailbox}/folders", params={"folderId": closed["id"]}
    ).json()
    assert assert_page(one, "folders", size=50, total=1) == [closed]
    # A folder of another mailbox is not this mailbox's.
    other = folders(client, desk.mailbox2)[(60, None)]["id"]
    none = client.get(f"/api/mailboxes/{desk.mailbox}/folders", params={"folderId": other})
    assert assert_page(none.json(), "folders", size=50, total=0) == []
    paged = client.get(
        f"/api/mailboxes/{desk.mailbox}/folders", params={"pageSize": 4, "page": 3}
    ).json()
    assert [f["type"] for f in assert_page(paged, "folders", size=4, total=10, number=3)] == [
        70,
        80,
    ]
    # Each mailbox has folders of its own.
    assert {f["id"] for f in items}.isdisjoint(
        f["id"] for f in folders(client, desk.mailbox2).values()
    )


def test_folders_of_unknown_mailbox(client: ApiClient, desk: Desk) -> None:
    assert_not_found(client.get("/api/mailboxes/999/folders"))
    assert_invalid(client.get("/api/mailboxes/x/folders"))
    assert_invalid(
        client.get(f"/api/mailboxes/{desk.mailbox}/folders", params={"userId": "x"}), "userId"
    )


def _counters(client: ApiClient, desk: Desk, mailbox_id: int) -> dict[str, tuple[int, int]]:
    who = {desk.admin: "admin", desk.agent: "agent"}
    return {
        (name if user is None else f"{name}:{who[user]}"): (f["totalCount"], f["activeCount"])
        for (_, user), f in folders(client, mailbox_id).items()
        for name in [f["name"]]
    }


ZERO = {
    "Unassigned": (0, 0),
    "Mine:admin": (0, 0),
    "Mine:agent": (0, 0),
    "Starred:admin": (0, 0),
    "Starred:agent": (0, 0),
    "Drafts": (0, 0),
    "Assigned": (0, 0),
    "Closed": (0, 0),
    "Deleted": (0, 0),
    "Spam": (0, 0),
}


def test_folder_counts_follow_every_change(client: ApiClient, desk: Desk) -> None:
    m1, m2 = desk.mailbox, desk.mailbox2
    by = {"byUser": desk.admin}

    def expect(mailbox_id: int, **changed: tuple[int, int]) -> None:
        wanted = dict(ZERO)
        wanted.update({k.replace("_", ":"): v for k, v in changed.items()})
        assert _counters(client, desk, mailbox_id) == wanted

    expect(m1)
    c1 = create_conversation(client, new_conversation(m1))["id"]
    c2 = create_conversation(client, new_conversation(m1, status="pending"))["id"]
    expect(m1, Unassigned=(2, 1))

    put(client, f"/api/conversations/{c1}", {**by, "assignTo": desk.agent})
    expect(m1, Unassigned=(1, 0), Assigned=(1, 1), Mine_agent=(1, 1))

    put(client, f"/api/conversations/{c1}", {**by, "status": "closed"})
    expect(m1, Unassigned=(1, 0), Closed=(1, 0))

    put(client, f"/api/conversations/{c2}", {**by, "state": "deleted"})
    expect(m1, Closed=(1, 0), Deleted=(1, 0))

    put(client, f"/api/conversations/{c2}", {**by, "state": "published"})
    expect(m1, Unassigned=(1, 0), Closed=(1, 0))

    put(client, f"/api/conversations/{c2}", {**by, "status": "spam"})
    expect(m1, Closed=(1, 0), Spam=(1, 0))

    put(client, f"/api/conversations/{c1}", {**by, "mailboxId": m2})
    expect(m1, Spam=(1, 0))
    expect(m2, Closed=(1, 0))

    # Reopened, still the agent's, now in mailbox 2.
    put(client, f"/api/conversations/{c1}", {**by, "status": "active"})
    expect(m2, Assigned=(1, 1), Mine_agent=(1, 1))

    # Pending counts toward Mine, but not as active.
    c3 = create_conversation(client, new_conversation(m2, assignTo=desk.admin, status="pending"))
    expect(m2, Assigned=(2, 1), Mine_agent=(1, 1), Mine_admin=(1, 0))

    # A trashed conversation leaves Assigned and Mine.
    put(client, f"/api/conversations/{c3['id']}", {**by, "state": "deleted"})
    expect(m2, Assigned=(1, 1), Mine_agent=(1, 1), Deleted=(1, 0))

    # A customer reply reopens the spam conversation into Unassigned.
    response = client.post(
        f"/api/conversations/{c2}/threads", json={"type": "customer", "text": "not spam!"}
    )
    assert response.status_code == 201
    expect(m1, Unassigned=(1, 1))

    assert_no_content(client.delete(f"/api/conversations/{c1}"))
    expect(m2, Deleted=(1, 0))
    # The folder ids conversations point at agree with the counters.
    assert list_ids(client, folderId=folders(client, m1)[(1, None)]["id"]) == [c2]


def _dry_run(client: ApiClient, mailbox_id: int) -> dict[str, Any]:
    response = client.delete(f"/api/mailboxes/{mailbox_id}", params={"dryRun": "true"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"action", "total", "confirmToken", "expiresAt"}
    assert body["action"] == "delete_mailbox"
    assert_date(body["expiresAt"])
    return body


def _assert_conflict(response: Any) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body == {"message": body["message"], "_embedded": {"errors": []}}
    assert "dryRun" in body["message"]


def _deleting(client: ApiClient, path: str, token: str) -> dict[str, Any]:
    """Confirm a mailbox deletion: 202 and the queued ``delete_mailbox`` operation."""
    response = client.delete(path, params={"confirmToken": token})
    assert response.status_code == 202, response.text
    op: dict[str, Any] = response.json()
    assert response.headers["Resource-ID"] == op["id"]
    assert op["status"] == "queued"
    return op


def _run_operations(app: FastAPI) -> None:
    ctx = app.state.ctx
    runner = Runner(ctx.db, ctx.clock, ctx.settings)
    while runner.run_once():
        pass


def test_delete_mailbox(
    app: FastAPI, client: ApiClient, desk: Desk, db: Database, counts: Any
) -> None:
    gone = create_conversation(client, new_conversation(desk.mailbox2))["id"]
    kept = create_conversation(client, new_conversation(desk.mailbox))["id"]
    path = f"/api/mailboxes/{desk.mailbox2}"
    before = counts()
    # It destroys conversations, so it needs a dry run's token.
    _assert_conflict(client.delete(path))
    _assert_conflict(client.delete(path, params={"confirmToken": "nonsense"}))
    plan = _dry_run(client, desk.mailbox2)
    assert plan["total"] == 1
    # A token is bound to the mailbox and to the conversations it had.
    other = _dry_run(client, desk.mailbox)
    _assert_conflict(client.delete(path, params={"confirmToken": other["confirmToken"]}))
    assert counts() == before
    newer = create_conversation(client, new_conversation(desk.mailbox2))["id"]
    _assert_conflict(client.delete(path, params={"confirmToken": plan["confirmToken"]}))
    before = counts()
    assert before["conversations"] == 3
    plan = _dry_run(client, desk.mailbox2)
    assert plan["total"] == 2
    assert counts() == before

    op = _deleting(client, path, plan["confirmToken"])
    assert (op["action"], op["total"], op["params"]) == (
        "delete_mailbox",
        2,
        {"mailboxId": desk.mailbox2},
    )
    _run_operations(app)
    done = client.get(f"/api/operations/{op['id']}").json()
    assert (done["status"], done["processed"], done["succeeded"]) == ("completed", 2, 2)
    assert_not_found(client.get(f"/api/mailboxes/{desk.mailbox2}/folders"))
    for convo_id in (gone, newer):
        assert_not_found(client.get(f"/api/conversations/{convo_id}"))
    assert list_ids(client, state="all") == [kept]
    assert list_ids(client, "/api/mailboxes") == [desk.mailbox]
    assert count_rows(db, schema.folders, schema.folders.c.mailbox_id == desk.mailbox2) == 0
    assert_not_found(client.delete(path, params={"confirmToken": plan["confirmToken"]}))
    assert_not_found(client.delete(path, params={"dryRun": "true"}))
    assert_not_found(client.delete("/api/mailboxes/999"))


def test_delete_empty_mailbox_still_needs_a_token(
    app: FastAPI, client: ApiClient, desk: Desk
) -> None:
    _assert_conflict(client.delete(f"/api/mailboxes/{desk.mailbox2}"))
    plan = _dry_run(client, desk.mailbox2)
    assert plan["total"] == 0
    assert_invalid(client.delete(f"/api/mailboxes/{desk.mailbox2}", params={"dryRun": "maybe"}))
    op = _deleting(client, f"/api/mailboxes/{desk.mailbox2}", plan["confirmToken"])
    assert op["total"] == 0
    _run_operations(app)
    assert_not_found(client.get(f"/api/mailboxes/{desk.mailbox2}/folders"))


def test_delete_mailbox_with_absurd_token_is_409(client: ApiClient, desk: Desk) -> None:
    for token in ("300000000000.abc", "99999999999999999999.abc"):
        response = client.delete(f"/api/mailboxes/{desk.mailbox2}", params={"confirmToken": token})
        _assert_conflict(response)


def test_custom_fields_module_is_not_installed(client: ApiClient, desk: Desk) -> None:
    response = client.get(f"/api/mailboxes/{desk.mailbox}/custom_fields")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Custom Fields module is not installed or not activated",
        "_embedded": {"errors": []},
    }
