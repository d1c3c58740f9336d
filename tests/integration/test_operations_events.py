"""Bulk operations announce every conversation they change, and themselves.

The runner is driven in the test (``Runner.run_once``) with an injected clock, so
the chunks, the progress events and the timeouts are deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.test_events_kit import Desk, FakeClock, desk_app, fail_on_update, submit
from tidings.db.engine import Database
from tidings.operations.confirm import ids_digest

CHUNK = 2


def run(desk: Desk, body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Submit, run to the end, and return the operation id and the events it added."""
    mark = desk.mark()
    op_id = submit(desk, body)
    desk.run_operations()
    return op_id, desk.events(mark)


def confirmed(desk: Desk, body: dict[str, Any]) -> dict[str, Any]:
    """The body with the confirmToken a dry run of it returns."""
    r = desk.post("/operations", {**body, "dryRun": True})
    assert r.status_code == 200, r.text
    return {**body, "confirmToken": r.json()["confirmToken"]}


def check_run(
    events: list[dict[str, Any]],
    op_id: str,
    event_type: str,
    changed: list[int],
    *,
    total: int,
    failed: int = 0,
) -> dict[str, Any]:
    """started, the conversation events in selection order with progress between chunks,
    completed with counts and digest; returns the completed payload."""
    types = [e["type"] for e in events]
    assert types[0] == "operation.started"
    assert types[-1] == "operation.completed"
    convo_events = [e for e in events if e["type"] == event_type]
    assert [e["entity"]["id"] for e in convo_events] == changed
    assert set(types) <= {
        "operation.started",
        "operation.progress",
        "operation.completed",
        event_type,
    }
    for e in events:
        assert e["operationId"] == op_id
    for e in events:
        if e["type"].startswith("operation."):
            assert e["entity"]["type"] == "operation"
            assert e["mailboxId"] is None
            assert e["data"]["id"] == op_id
    done = events[-1]["data"]
    assert done["status"] == "completed"
    assert done["total"] == total
    assert done["processed"] == total
    assert done["failed"] == failed
    assert done["succeeded"] == total - failed
    assert done["digest"] == ids_digest(changed)
    assert done["finishedAt"] is not None
    return dict(done)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def setup_desk(desk: Desk, n: int = 5) -> tuple[int, int, int, list[int]]:
    agent = desk.user()
    box, box2 = desk.mailbox(), desk.mailbox("Other")
    ids = [desk.conversation(box, customer=f"c{i}@ex.com") for i in range(n)]
    return agent, box, box2, ids


def test_every_bulk_action_announces_each_change(database_url: str, clock: FakeClock) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, box2, ids = setup_desk(desk)
        desk.update(ids[1], {"state": "deleted", "byUser": agent})
        missing = 999_999
        selection = [*ids, missing]

        # delete: the already-deleted one is unchanged, the unknown id is counted as failed.
        op_id, ev = run(desk, {"action": "delete", "conversationIds": selection, "byUser": agent})
        changed = [i for i in ids if i != ids[1]]
        done = check_run(ev, op_id, "convo.deleted", changed, total=6, failed=1)
        assert done["action"] == "delete"
        assert all(e["data"]["state"] == "deleted" for e in ev if e["type"] == "convo.deleted")
        # Fixed clock: one progress event (after the first chunk), none more within a second.
        assert [e["type"] for e in ev].count("operation.progress") == 1
        assert [e["type"] for e in ev][:4] == [
            "operation.started",
            "convo.deleted",
            "operation.progress",
            "convo.deleted",
        ]
        assert desk.get(f"/operations/{op_id}").json() == done
        assert desk.events(operationId=op_id) == ev

        # restore
        op_id, ev = run(desk, {"action": "restore", "conversationIds": ids, "byUser": agent})
        check_run(ev, op_id, "convo.restored", ids, total=5)
        assert all(e["data"]["state"] == "published" for e in ev if e["type"] == "convo.restored")

        # status
        body = {"action": "status", "conversationIds": ids, "byUser": agent}
        op_id, ev = run(desk, {**body, "params": {"status": "closed"}})
        check_run(ev, op_id, "convo.status", ids, total=5)
        assert all(e["data"]["status"] == "closed" for e in ev if e["type"] == "convo.status")
        op_id, ev = run(desk, {**body, "params": {"status": "closed"}})  # nothing to change
        assert check_run(ev, op_id, "convo.status", [], total=5)["succeeded"] == 5

        # assign, then unassign
        body = {"action": "assign", "conversationIds": ids, "byUser": agent}
        op_id, ev = run(desk, {**body, "params": {"user": agent}})
        check_run(ev, op_id, "convo.assigned", ids, total=5)
        assert all(
            e["data"]["assignee"]["id"] == agent for e in ev if e["type"] == "convo.assigned"
        )
        op_id, ev = run(desk, {**body, "params": {"user": None}})
        check_run(ev, op_id, "convo.unassigned", ids, total=5)

        # move
        body = {"action": "move", "conversationIds": ids, "byUser": agent}
        op_id, ev = run(desk, {**body, "params": {"mailboxId": box2}})
        check_run(ev, op_id, "convo.moved", ids, total=5)
        assert all(e["mailboxId"] == box2 for e in ev if e["type"] == "convo.moved")

        # tag (adds by default; replace=true replaces)
        body = {"action": "tag", "conversationIds": ids[:3]}
        op_id, ev = run(desk, {**body, "params": {"tags": ["Urgent"]}})
        check_run(ev, op_id, "convo.tags", ids[:3], total=3)
        for e in ev:
            if e["type"] == "convo.tags":
                assert [t["name"] for t in e["data"]["_embedded"]["tags"]] == ["urgent"]

        # delete_forever: confirmed by a dry run; each payload carries the threads
        before = {i: desk.convo(i) for i in ids[:2]}
        body = {"action": "delete_forever", "conversationIds": ids[:2]}
        op_id, ev = run(desk, confirmed(desk, body))
        check_run(ev, op_id, "convo.deleted_forever", ids[:2], total=2)
        for e in ev:
            if e["type"] == "convo.deleted_forever":
                assert (
                    e["data"]["_embedded"]["threads"]
                    == (before[e["entity"]["id"]]["_embedded"]["threads"])
                )
                assert desk.get(f"/conversations/{e['entity']['id']}").status_code == 404

        # empty_trash: the Deleted folder of one mailbox
        trash = ids[2:4]
        desk.post(
            "/operations",
            {"action": "delete", "conversationIds": trash, "byUser": agent},
        )
        desk.run_operations()
        body = {
            "action": "empty_trash",
            "filter": {"mailboxId": box2},
            "params": {"folder": "deleted"},
        }
        op_id, ev = run(desk, confirmed(desk, body))
        check_run(ev, op_id, "convo.deleted_forever", trash, total=2)
        assert desk.get(f"/conversations/{ids[4]}").status_code == 200


def test_filter_selection(database_url: str, clock: FakeClock) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, box, box2, ids = setup_desk(desk, 4)
        other = desk.conversation(box2)
        desk.update(ids[0], {"status": "pending", "byUser": agent})
        body = {
            "action": "status",
            "filter": {"mailboxId": box, "status": "active"},
            "params": {"status": "closed"},
            "byUser": agent,
        }
        op_id, ev = run(desk, body)
        check_run(ev, op_id, "convo.status", ids[1:], total=3)
        assert desk.convo(other)["status"] == "active"


def test_progress_events_with_a_moving_clock(database_url: str) -> None:
    clock = FakeClock(step=timedelta(seconds=2))  # every reading is 2 s later
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, _, ids = setup_desk(desk, 7)
        op_id, ev = run(desk, {"action": "delete", "conversationIds": ids, "byUser": agent})
        check_run(ev, op_id, "convo.deleted", ids, total=7)
        types = [e["type"] for e in ev]
        assert types == [
            "operation.started",
            *["convo.deleted"] * 2,
            "operation.progress",
            *["convo.deleted"] * 2,
            "operation.progress",
            *["convo.deleted"] * 2,
            "operation.progress",
            "convo.deleted",
            "operation.completed",
        ]
        progress = [e["data"] for e in ev if e["type"] == "operation.progress"]
        assert [p["processed"] for p in progress] == [2, 4, 6]
        assert all(p["status"] == "running" for p in progress)


def test_cancel_before_running(database_url: str, clock: FakeClock) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, _, ids = setup_desk(desk, 3)
        before = {i: desk.convo(i) for i in ids}
        mark = desk.mark()
        op_id = submit(desk, {"action": "delete", "conversationIds": ids, "byUser": agent})
        r = desk.post(f"/operations/{op_id}/cancel", {})
        assert r.status_code == 202, r.text
        desk.run_operations()

        ev = desk.events(mark)
        assert [e["type"] for e in ev] == ["operation.started", "operation.cancelled"]
        data = ev[-1]["data"]
        assert data["status"] == "cancelled"
        assert data["processed"] == 0
        assert {i: desk.convo(i) for i in ids} == before
        # Cancelling a finished operation changes nothing and announces nothing.
        mark = desk.mark()
        r = desk.post(f"/operations/{op_id}/cancel", {})
        assert r.status_code == 202
        assert r.json()["status"] == "cancelled"
        desk.run_operations()
        assert desk.events(mark) == []
        assert desk.post("/operations/op_nope/cancel", {}).status_code == 404


def test_timeout(database_url: str) -> None:
    clock = FakeClock(step=timedelta(seconds=2))
    with desk_app(database_url, clock, operation_chunk_size=1) as desk:
        agent, _, _, ids = setup_desk(desk, 10)
        mark = desk.mark()
        op_id = submit(
            desk,
            {"action": "delete", "conversationIds": ids, "byUser": agent, "timeoutSeconds": 7},
        )
        desk.run_operations()
        ev = desk.events(mark)
        types = [e["type"] for e in ev]
        assert types[0] == "operation.started"
        assert types[-1] == "operation.timed_out"
        assert "operation.completed" not in types
        deleted = [e["entity"]["id"] for e in ev if e["type"] == "convo.deleted"]
        assert 0 < len(deleted) < len(ids)
        assert deleted == ids[: len(deleted)]
        data = ev[-1]["data"]
        assert data["status"] == "timed_out"
        assert data["processed"] == len(deleted)
        assert data["error"] == "Operation exceeded 7 seconds"
        for cid in ids[len(deleted) :]:
            assert desk.convo(cid)["state"] == "published"
        assert desk.get(f"/operations/{op_id}").json()["status"] == "timed_out"


def test_failed_chunk_rolls_back_and_is_not_announced(
    database_url: str, db: Database, clock: FakeClock
) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, _, ids = setup_desk(desk, 6)
        before = {i: desk.convo(i) for i in ids}
        fail_on_update(db, ids[3])  # the second chunk is ids[2], ids[3]
        mark = desk.mark()
        op_id = submit(desk, {"action": "delete", "conversationIds": ids, "byUser": agent})
        desk.run_operations()

        ev = desk.events(mark)
        assert [e["type"] for e in ev] == [
            "operation.started",
            "convo.deleted",
            "convo.deleted",
            "operation.progress",
            "operation.failed",
        ]
        assert [e["entity"]["id"] for e in ev[1:3]] == ids[:2]
        data = ev[-1]["data"]
        assert data["status"] == "failed"
        assert data["processed"] == 2
        assert data["succeeded"] == 2
        assert "boom fail_update" in data["error"]
        assert data["digest"] is None
        # ids[2] was changed in the failed chunk before ids[3] refused: rolled back with it.
        for cid in ids[2:]:
            assert desk.convo(cid) == before[cid]
        assert desk.get(f"/operations/{op_id}").json()["status"] == "failed"


def test_atomic_is_all_or_nothing(database_url: str, db: Database, clock: FakeClock) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, _, ids = setup_desk(desk, 5)
        before = {i: desk.convo(i) for i in ids}
        fail_on_update(db, ids[4])
        body = {"action": "delete", "conversationIds": ids, "byUser": agent, "atomic": True}
        op_id, ev = run(desk, body)
        assert [e["type"] for e in ev] == ["operation.started", "operation.failed"]
        assert ev[-1]["data"]["processed"] == 0
        assert ev[-1]["data"]["atomic"] is True
        assert {i: desk.convo(i) for i in ids} == before

        with db.write() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER fail_update"
                if db.is_sqlite
                else "DROP TRIGGER fail_update ON conversations"
            )
        op_id, ev = run(desk, body)
        assert [e["type"] for e in ev] == [
            "operation.started",
            *["convo.deleted"] * 5,
            "operation.completed",
        ]
        check_run(ev, op_id, "convo.deleted", ids, total=5)


def test_dry_run_and_confirmation(database_url: str, clock: FakeClock) -> None:
    with desk_app(database_url, clock, confirm_token_ttl_seconds=60) as desk:
        agent, box, _, ids = setup_desk(desk, 3)
        mark = desk.mark()

        # A dry run of a non-destructive action: the count, nothing queued.
        r = desk.post(
            "/operations",
            {"action": "delete", "conversationIds": ids, "byUser": agent, "dryRun": True},
        )
        assert r.status_code == 200
        assert r.json() == {"action": "delete", "total": 3}

        body = {"action": "delete_forever", "conversationIds": ids[:2]}
        r = desk.post("/operations", {**body, "dryRun": True})
        assert r.status_code == 200
        dry = r.json()
        assert set(dry) == {"action", "total", "confirmToken", "expiresAt"}
        assert dry["total"] == 2
        assert dry["expiresAt"] == "2030-01-01T12:01:00Z"
        token = dry["confirmToken"]

        def refused(b: dict[str, Any], why: str) -> None:
            r = desk.post("/operations", b)
            assert r.status_code == 409, r.text
            assert why in r.json()["message"]

        refused(body, "dryRun first")
        refused({**body, "confirmToken": "garbage"}, "malformed")
        refused({**body, "conversationIds": ids, "confirmToken": token}, "does not match")
        refused({**body, "conversationIds": [*ids[1::-1], ids[2]], "confirmToken": token}, "match")
        refused(
            {"action": "empty_trash", "filter": {"mailboxId": box}, "confirmToken": token},
            "does not match",
        )
        clock.advance(61)
        refused({**body, "confirmToken": token}, "expired")

        # None of that queued anything or announced anything.
        assert desk.get("/operations").json()["page"]["totalElements"] == 0
        desk.run_operations()
        assert desk.events(mark) == []
        for cid in ids:
            assert desk.get(f"/conversations/{cid}").status_code == 200

        # The same selection in another order is the same selection.
        dry = desk.post("/operations", {**body, "dryRun": True}).json()
        op_id, ev = run(
            desk, {**body, "conversationIds": ids[1::-1], "confirmToken": dry["confirmToken"]}
        )
        # (within a chunk, rows are locked and announced in id order)
        check_run(ev, op_id, "convo.deleted_forever", ids[:2], total=2)


def test_a_filter_is_confirmed_against_what_the_request_freezes(
    database_url: str, clock: FakeClock
) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, box, _, ids = setup_desk(desk, 4)
        for cid in ids[:3]:
            desk.update(cid, {"state": "deleted", "byUser": agent})
        body = {"action": "delete_forever", "filter": {"mailboxId": box, "state": "deleted"}}
        dry = desk.post("/operations", {**body, "dryRun": True}).json()
        assert dry["total"] == 3

        def refused_after(change: dict[str, Any], cid: int) -> None:
            desk.update(cid, {**change, "byUser": agent})
            mark = desk.mark()
            r = desk.post("/operations", {**body, "confirmToken": dry["confirmToken"]})
            assert r.status_code == 409, r.text
            assert "does not match" in r.json()["message"]
            assert desk.events(mark) == []
            assert desk.get("/operations").json()["page"]["totalElements"] == 0
            with desk.ctx.db.read() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM operation_items").scalar() == 0

        refused_after({"state": "deleted"}, ids[3])  # one entered the filter
        desk.update(ids[3], {"state": "published", "byUser": agent})
        refused_after({"state": "published"}, ids[0])  # one left it
        desk.update(ids[0], {"state": "deleted", "byUser": agent})

        # Back to the dry run's three: its token is good again, and exactly they go.
        op_id, ev = run(desk, {**body, "confirmToken": dry["confirmToken"]})
        check_run(ev, op_id, "convo.deleted_forever", ids[:3], total=3)
        assert desk.get(f"/conversations/{ids[3]}").status_code == 200


def test_a_selection_larger_than_allowed_is_refused(
    database_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tidings.operations import planning

    monkeypatch.setattr(planning, "MAX_SELECTION", 2)
    with desk_app(database_url, clock) as desk:
        agent, box, _, ids = setup_desk(desk, 3)
        mark = desk.mark()
        by_filter = {"action": "delete", "filter": {"mailboxId": box}, "byUser": agent}
        by_ids = {"action": "delete", "conversationIds": ids, "byUser": agent}
        for body, path in ((by_filter, "filter"), (by_ids, "conversationIds")):
            for dry_run in (True, False):
                r = desk.post("/operations", {**body, "dryRun": dry_run})
                assert r.status_code == 400, r.text
                assert r.json()["_embedded"]["errors"][0]["path"] == path
                assert "At most 2 conversations" in r.json()["_embedded"]["errors"][0]["message"]
        assert desk.get("/operations").json()["page"]["totalElements"] == 0
        assert desk.events(mark) == []
        # Two are fine.
        r = desk.post("/operations", {**by_ids, "conversationIds": ids[:2], "dryRun": True})
        assert r.json() == {"action": "delete", "total": 2}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"action": "explode", "conversationIds": [1]}, "action"),
        ({"action": "status", "conversationIds": [1], "params": {"status": "closed"}}, "byUser"),
        ({"action": "delete", "conversationIds": "1,2"}, "conversationIds"),
        ({"action": "delete", "conversationIds": [1], "filter": {}}, "filter"),
        ({"action": "delete"}, "filter"),
        ({"action": "delete", "conversationIds": [1], "timeoutSeconds": 0}, "timeoutSeconds"),
    ],
)
def test_invalid_requests_queue_nothing(database_url: str, body: dict[str, Any], path: str) -> None:
    with desk_app(database_url) as desk:
        desk.user()
        mark = desk.mark()
        r = desk.post("/operations", body)
        assert r.status_code == 400, r.text
        assert [e["path"] for e in r.json()["_embedded"]["errors"]] == [path]
        assert desk.get("/operations").json()["page"]["totalElements"] == 0
        assert desk.events(mark) == []


@pytest.mark.parametrize("atomic", [False, True])
def test_cancel_before_running_is_honoured_by_atomic_operations(
    database_url: str, clock: FakeClock, atomic: bool
) -> None:
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, _, _, ids = setup_desk(desk, 3)
        before = {i: desk.convo(i) for i in ids}
        mark = desk.mark()
        body = {"action": "delete", "conversationIds": ids, "byUser": agent, "atomic": atomic}
        op_id = submit(desk, body)
        assert desk.post(f"/operations/{op_id}/cancel", {}).status_code == 202
        desk.run_operations()
        assert [e["type"] for e in desk.events(mark)][-1] == "operation.cancelled"
        assert "convo.deleted" not in desk.types(mark)
        assert {i: desk.convo(i) for i in ids} == before
        assert desk.get(f"/operations/{op_id}").json()["status"] == "cancelled"
