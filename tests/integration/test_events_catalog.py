"""Every event in the catalog, caused through the public API and read back from /api/events.

Each test makes one change at a time and asserts the exact events that change added
to the log: their types, their order, and the payload fields that say what happened.
The bulk-operation paths live in ``test_operations_events.py``.
"""

from __future__ import annotations

from typing import Any

from tests.integration.test_events_kit import Desk, desk_app
from tidings.events.catalog import ALL_EVENTS

# Where each catalog event is proven (this file unless a file is named).
COVERED = {
    "convo.assigned": "test_assign_unassign_move_subject_customer",
    "convo.created": "test_created_and_replies",
    "convo.deleted": "test_soft_delete_and_restore",
    "convo.deleted_forever": "test_delete_forever_carries_the_threads",
    "convo.restored": "test_soft_delete_and_restore",
    "convo.moved": "test_assign_unassign_move_subject_customer",
    "convo.status": "test_created_and_replies",
    "convo.customer.reply.created": "test_created_and_replies",
    "convo.agent.reply.created": "test_created_and_replies",
    "convo.note.created": "test_created_and_replies",
    "customer.created": "test_customer_created_and_updated",
    "customer.updated": "test_customer_created_and_updated",
    "convo.unassigned": "test_assign_unassign_move_subject_customer",
    "convo.tags": "test_tags",
    "convo.merged": "test_merge",
    "convo.updated": "test_assign_unassign_move_subject_customer",
    "operation.started": "test_operations_events.py",
    "operation.progress": "test_operations_events.py",
    "operation.completed": "test_operations_events.py",
    "operation.failed": "test_operations_events.py",
    "operation.cancelled": "test_operations_events.py",
    "operation.timed_out": "test_operations_events.py",
    "webhook.test": "test_webhook_alerts.py",
    "webhook.failing": "test_webhook_alerts.py",
    "webhook.recovered": "test_webhook_alerts.py",
    "webhook.disabled": "test_webhook_alerts.py",
    "webhook.lagging": "test_webhook_alerts.py",
}


def test_every_catalog_event_has_a_test() -> None:
    assert set(COVERED) == set(ALL_EVENTS)
    assert len(ALL_EVENTS) == len(set(ALL_EVENTS))


def step(desk: Desk) -> Any:
    """A context for 'the events this block added'."""

    class _Step:
        def __enter__(self) -> _Step:
            self.mark = desk.mark()
            return self

        def __exit__(self, *exc: object) -> None:
            self.events = desk.events(self.mark)
            self.types = [e["type"] for e in self.events]

    return _Step()


def thread_types(payload: dict[str, Any]) -> list[str]:
    return [t["type"] for t in payload["_embedded"]["threads"]]


def assert_convo_event(event: dict[str, Any], convo_id: int, mailbox_id: int) -> None:
    assert event["entity"] == {"type": "conversation", "id": convo_id}
    assert event["mailboxId"] == mailbox_id
    assert event["operationId"] is None
    assert event["data"]["id"] == convo_id
    assert event["data"]["mailboxId"] == mailbox_id


def test_created_and_replies(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent = desk.user()
        box = desk.mailbox()

        with step(desk) as s:
            cid = desk.conversation(box, customer="new@example.com", text="first")
        assert s.types == ["customer.created", "convo.created"]
        assert s.events[0]["entity"]["type"] == "customer"
        customer_id = s.events[0]["entity"]["id"]
        assert s.events[0]["data"]["_embedded"]["emails"][0]["value"] == "new@example.com"
        created = s.events[1]
        assert_convo_event(created, cid, box)
        assert created["data"]["status"] == "active"
        assert created["data"]["state"] == "published"
        assert created["data"]["customer"]["id"] == customer_id
        assert [t["body"] for t in created["data"]["_embedded"]["threads"]] == ["first"]

        # A known customer: no customer event; several threads: still one convo.created.
        with step(desk) as s:
            body = {
                "type": "email",
                "mailboxId": box,
                "subject": "Two",
                "customer": {"email": "new@example.com"},
                "threads": [
                    {"type": "message", "text": "newest", "user": agent},
                    {"type": "customer", "text": "oldest"},
                ],
            }
            r = desk.post("/conversations", body)
            assert r.status_code == 201, r.text
        assert s.types == ["convo.created"]
        assert [t["body"] for t in s.events[0]["data"]["_embedded"]["threads"]] == [
            "newest",
            "oldest",
        ]

        # An agent reply moves active -> pending: reply, then status.
        with step(desk) as s:
            desk.reply(cid, {"type": "message", "text": "agent says", "user": agent})
        assert s.types == ["convo.agent.reply.created", "convo.status"]
        for e in s.events:
            assert_convo_event(e, cid, box)
            assert e["data"]["status"] == "pending"
            assert e["data"]["_embedded"]["threads"][0]["body"] == "agent says"
            assert e["data"]["threadsCount"] == 2

        # Another agent reply to a pending conversation: no status change.
        with step(desk) as s:
            desk.reply(cid, {"type": "message", "text": "again", "user": agent})
        assert s.types == ["convo.agent.reply.created"]

        # A note changes nothing else.
        with step(desk) as s:
            desk.reply(cid, {"type": "note", "text": "internal", "user": agent})
        assert s.types == ["convo.note.created"]
        note = s.events[0]["data"]
        assert note["status"] == "pending"
        assert note["_embedded"]["threads"][0]["type"] == "note"

        # A customer reply to a pending conversation: reply, then status active.
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "thanks", "customer": {"id": customer_id}})
        assert s.types == ["convo.customer.reply.created", "convo.status"]
        assert [e["data"]["status"] for e in s.events] == ["active", "active"]

        # A customer reply to an active conversation: only the reply.
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "more"})
        assert s.types == ["convo.customer.reply.created"]

        # Closed by an agent, then re-opened by the customer's reply.
        with step(desk) as s:
            desk.update(cid, {"status": "closed", "byUser": agent})
        assert s.types == ["convo.status"]
        assert s.events[0]["data"]["status"] == "closed"
        assert s.events[0]["data"]["closedBy"] == agent
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "still broken"})
        assert s.types == ["convo.customer.reply.created", "convo.status"]
        assert [e["data"]["status"] for e in s.events] == ["active", "active"]
        assert s.events[1]["data"]["closedAt"] is None

        # A reply from a customer nobody knew yet: the customer first, then the reply.
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "cc", "customer": {"email": "x@ex.com"}})
        assert s.types == ["customer.created", "convo.customer.reply.created"]

        # Setting the status it already has announces nothing.
        with step(desk) as s:
            desk.update(cid, {"status": "active", "byUser": agent})
        assert s.types == []


def test_soft_delete_and_restore(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent = desk.user()
        box = desk.mailbox()
        cid = desk.conversation(box)
        deleted_folder = next(
            f["id"]
            for f in desk.get(f"/mailboxes/{box}/folders").json()["_embedded"]["folders"]
            if f["name"] == "Deleted"
        )

        with step(desk) as s:
            desk.update(cid, {"state": "deleted", "byUser": agent})
        assert s.types == ["convo.deleted"]
        data = s.events[0]["data"]
        assert_convo_event(s.events[0], cid, box)
        assert data["state"] == "deleted"
        assert data["folderId"] == deleted_folder
        assert data["_embedded"]["threads"][0]["action"]["type"] == "deleted-ticket"

        with step(desk) as s:  # already deleted: nothing changed, nothing announced
            desk.update(cid, {"state": "deleted", "byUser": agent})
        assert s.types == []

        with step(desk) as s:
            desk.update(cid, {"state": "published", "byUser": agent})
        assert s.types == ["convo.restored"]
        assert s.events[0]["data"]["state"] == "published"
        assert s.events[0]["data"]["folderId"] != deleted_folder
        assert s.events[0]["data"]["_embedded"]["threads"][0]["action"]["type"] == "restore-ticket"

        with step(desk) as s:  # already published
            desk.update(cid, {"state": "published", "byUser": agent})
        assert s.types == []

        # A customer reply to a deleted conversation un-deletes it, and says so first.
        desk.update(cid, {"state": "deleted", "byUser": agent})
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "hello?"})
        assert s.types == ["convo.restored", "convo.customer.reply.created"]
        for e in s.events:
            assert e["data"]["state"] == "published"
        assert desk.convo(cid)["state"] == "published"

        # ... and when the reply also changes the status, that is announced last.
        desk.update(cid, {"status": "closed", "state": "deleted", "byUser": agent})
        with step(desk) as s:
            desk.reply(cid, {"type": "customer", "text": "reopen"})
        assert s.types == ["convo.restored", "convo.customer.reply.created", "convo.status"]
        assert s.events[-1]["data"]["status"] == "active"

        # An agent reply restores too; a note does not.
        desk.update(cid, {"state": "deleted", "byUser": agent})
        with step(desk) as s:
            desk.reply(cid, {"type": "note", "text": "n", "user": agent})
        assert s.types == ["convo.note.created"]
        assert s.events[0]["data"]["state"] == "deleted"
        with step(desk) as s:
            desk.reply(cid, {"type": "message", "text": "m", "user": agent})
        assert s.types == ["convo.restored", "convo.agent.reply.created", "convo.status"]
        assert s.events[0]["data"]["state"] == "published"


def test_assign_unassign_move_subject_customer(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent, other = desk.user(), desk.user("Bob")
        box, box2 = desk.mailbox(), desk.mailbox("Sales")
        cid = desk.conversation(box)

        with step(desk) as s:
            desk.update(cid, {"assignTo": other, "byUser": agent})
        assert s.types == ["convo.assigned"]
        assert s.events[0]["data"]["assignee"]["id"] == other

        with step(desk) as s:
            desk.update(cid, {"assignTo": 0, "byUser": agent})
        assert s.types == ["convo.unassigned"]
        assert s.events[0]["data"]["assignee"] is None

        with step(desk) as s:
            desk.update(cid, {"mailboxId": box2, "byUser": agent})
        assert s.types == ["convo.moved"]
        assert_convo_event(s.events[0], cid, box2)
        assert s.events[0]["data"]["_embedded"]["threads"][0]["action"]["type"] == (
            "moved-from-mailbox"
        )

        with step(desk) as s:
            desk.update(cid, {"subject": "A better subject"})
        assert s.types == ["convo.updated"]
        assert s.events[0]["data"]["subject"] == "A better subject"

        r = desk.post("/customers", {"firstName": "Carol", "email": "carol@example.com"})
        carol = r.json()["id"]
        with step(desk) as s:
            desk.update(cid, {"customerId": carol, "byUser": agent})
        assert s.types == ["convo.updated"]
        assert s.events[0]["data"]["customer"]["id"] == carol

        # Several fields: applied, and announced, in the order given.
        with step(desk) as s:
            desk.update(
                cid,
                {"subject": "Third", "status": "pending", "assignTo": agent, "byUser": agent},
            )
        assert s.types == ["convo.updated", "convo.status", "convo.assigned"]
        for e in s.events:  # every snapshot is taken after all the changes
            assert e["data"]["subject"] == "Third"
            assert e["data"]["status"] == "pending"
            assert e["data"]["assignee"]["id"] == agent

        # A rejected update announces nothing and changes nothing.
        with step(desk) as s:
            r = desk.put(f"/conversations/{cid}", {"subject": "Fourth", "status": "bogus"})
            assert r.status_code == 400
        assert s.types == []
        assert desk.convo(cid)["subject"] == "Third"


def test_tags(database_url: str) -> None:
    with desk_app(database_url) as desk:
        box = desk.mailbox()
        cid = desk.conversation(box)
        with step(desk) as s:
            assert desk.put(f"/conversations/{cid}/tags", {"tags": ["Billing", "vip"]}).status_code
        assert s.types == ["convo.tags"]
        assert sorted(t["name"] for t in s.events[0]["data"]["_embedded"]["tags"]) == [
            "billing",
            "vip",
        ]
        with step(desk) as s:  # same set: nothing to announce
            desk.put(f"/conversations/{cid}/tags", {"tags": ["vip", "billing"]})
        assert s.types == []
        with step(desk) as s:
            desk.put(f"/conversations/{cid}/tags", {"tags": []})
        assert s.types == ["convo.tags"]
        assert s.events[0]["data"]["_embedded"]["tags"] == []


def test_merge(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent = desk.user()
        box = desk.mailbox()
        target = desk.conversation(box, text="target text")
        source = desk.conversation(box, text="source text", customer="other@example.com")
        desk.reply(source, {"type": "message", "text": "source reply", "user": agent})

        with step(desk) as s:
            r = desk.post(
                f"/conversations/{target}/merge", {"conversationId": source, "byUser": agent}
            )
            assert r.status_code == 204, r.text
        assert s.types == ["convo.merged", "convo.deleted"]
        merged, deleted = s.events
        assert_convo_event(merged, target, box)
        bodies = [t["body"] for t in merged["data"]["_embedded"]["threads"]]
        assert {"target text", "source text", "source reply"} <= set(bodies)
        assert merged["data"]["threadsCount"] == 3
        assert_convo_event(deleted, source, box)
        assert deleted["data"]["state"] == "deleted"
        assert "source text" not in [t["body"] for t in deleted["data"]["_embedded"]["threads"]]

        # A source already in the trash is not deleted again, but it loses its threads:
        # that change is announced too.
        trashed = desk.conversation(box, text="trashed text")
        desk.update(trashed, {"state": "deleted", "byUser": agent})
        with step(desk) as s:
            r = desk.post(
                f"/conversations/{target}/merge", {"conversationId": trashed, "byUser": agent}
            )
            assert r.status_code == 204, r.text
        assert s.types == ["convo.merged", "convo.updated"]
        assert [e["entity"]["id"] for e in s.events] == [target, trashed]
        assert s.events[1]["data"]["threadsCount"] == 0
        assert "trashed text" in [t["body"] for t in s.events[0]["data"]["_embedded"]["threads"]]

        with step(desk) as s:
            r = desk.post(
                f"/conversations/{target}/merge", {"conversationId": target, "byUser": agent}
            )
            assert r.status_code == 400
        assert s.types == []


def test_delete_forever_carries_the_threads(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent = desk.user()
        box = desk.mailbox()
        cid = desk.conversation(box, text="customer asks")
        desk.reply(cid, {"type": "message", "text": "agent answers", "user": agent})
        desk.reply(cid, {"type": "note", "text": "a note", "user": agent})
        before = desk.convo(cid)
        assert len(before["_embedded"]["threads"]) == 3

        with step(desk) as s:
            assert desk.delete(f"/conversations/{cid}").status_code == 204
        assert s.types == ["convo.deleted_forever"]
        gone = s.events[0]
        assert_convo_event(gone, cid, box)
        assert gone["data"]["_embedded"]["threads"] == before["_embedded"]["threads"]
        assert gone["data"]["subject"] == before["subject"]
        assert desk.get(f"/conversations/{cid}").status_code == 404

        with step(desk) as s:
            assert desk.delete(f"/conversations/{cid}").status_code == 404
        assert s.types == []


def test_delete_mailbox_announces_each_conversation(database_url: str) -> None:
    with desk_app(database_url) as desk:
        agent = desk.user()
        box, keep = desk.mailbox(), desk.mailbox("Keep")
        ids = [desk.conversation(box, text=f"t{i}") for i in range(3)]
        desk.reply(ids[0], {"type": "message", "text": "answer", "user": agent})
        desk.update(ids[1], {"state": "deleted", "byUser": agent})
        kept = desk.conversation(keep)
        snapshots = {i: desk.convo(i) for i in ids}

        with step(desk) as s:
            assert desk.delete(f"/mailboxes/{box}").status_code == 409  # not confirmed
            assert desk.delete_mailbox(box).status_code == 202  # a delete_mailbox operation
            desk.run_operations()
        assert s.types == [
            "operation.started",
            *["convo.deleted_forever"] * 3,
            "operation.completed",
        ]
        deleted = s.events[1:-1]
        assert sorted(e["entity"]["id"] for e in deleted) == sorted(ids)
        assert s.events[-1]["data"]["action"] == "delete_mailbox"
        for e in deleted:
            assert e["mailboxId"] == box
            assert (
                e["data"]["_embedded"]["threads"]
                == (snapshots[e["entity"]["id"]]["_embedded"]["threads"])
            )
        assert desk.get(f"/conversations/{kept}").status_code == 200
        assert desk.delete_mailbox(box).status_code == 404


def test_user_deletion_reassigns_with_events(database_url: str) -> None:
    with desk_app(database_url) as desk:
        admin, leaving, heir = desk.user("Admin"), desk.user("Leaving"), desk.user("Heir")
        box, box2 = desk.mailbox(), desk.mailbox("Other")
        c1 = desk.conversation(box, assignTo=leaving)
        c2 = desk.conversation(box2, assignTo=leaving)
        c3 = desk.conversation(box, assignTo=heir)

        with step(desk) as s:
            r = desk.delete(f"/users/{leaving}", byUserId=admin, **{f"assignTo[{box}]": heir})
            assert r.status_code == 204, r.text
        assert s.types == ["convo.assigned", "convo.unassigned"]
        assert [e["entity"]["id"] for e in s.events] == [c1, c2]
        assert s.events[0]["data"]["assignee"]["id"] == heir
        assert s.events[1]["data"]["assignee"] is None
        assert c3 not in [e["entity"]["id"] for e in s.events]


def test_customer_created_and_updated(database_url: str) -> None:
    with desk_app(database_url) as desk:
        with step(desk) as s:
            r = desk.post("/customers", {"firstName": "Dan", "emails": [{"value": "dan@ex.com"}]})
            assert r.status_code == 201, r.text
        customer_id = r.json()["id"]
        assert s.types == ["customer.created"]
        e = s.events[0]
        assert e["entity"] == {"type": "customer", "id": customer_id}
        assert e["mailboxId"] is None
        assert e["data"]["firstName"] == "Dan"

        with step(desk) as s:
            r = desk.put(
                f"/customers/{customer_id}",
                {"firstName": "Daniel", "emails": ["daniel@ex.com"], "company": "Acme"},
            )
            assert r.status_code == 204, r.text
        assert s.types == ["customer.updated"]
        data = s.events[0]["data"]
        assert data["firstName"] == "Daniel"
        assert data["company"] == "Acme"
        assert [m["value"] for m in data["_embedded"]["emails"]] == ["daniel@ex.com"]

        with step(desk) as s:  # a rejected update announces nothing
            r = desk.put(f"/customers/{customer_id}", {"photoType": "nope"})
            assert r.status_code == 400
            assert desk.put("/customers/999999", {"firstName": "X"}).status_code == 404
        assert s.types == []
