"""``GET /api/operations/{id}/items``: what became of each conversation of an operation."""

from __future__ import annotations

from typing import Any

from tests.integration.test_events_kit import Desk, desk_app, submit
from tidings.operations import store

MISSING = 999_999


def items(desk: Desk, op_id: str, **params: Any) -> tuple[list[tuple[int, str]], Any]:
    r = desk.get(f"/operations/{op_id}/items", **params)
    assert r.status_code == 200, r.text
    body = r.json()
    found = [(i["conversationId"], i["outcome"]) for i in body["_embedded"]["items"]]
    assert [i["position"] for i in body["_embedded"]["items"]] == sorted(
        i["position"] for i in body["_embedded"]["items"]
    )
    return found, body["page"]


def test_each_item_says_what_became_of_it(database_url: str) -> None:
    with desk_app(database_url, operation_chunk_size=2) as desk:
        agent, box = desk.user(), desk.mailbox()
        ids = [desk.conversation(box, customer=f"c{i}@ex.com") for i in range(4)]
        desk.update(ids[1], {"state": "deleted", "byUser": agent})
        selection = [*ids, MISSING]
        op_id = submit(desk, {"action": "delete", "conversationIds": selection, "byUser": agent})

        # Queued: nothing is done yet.
        found, page = items(desk, op_id)
        assert found == [(i, "pending") for i in selection]
        assert page == {"size": 50, "totalElements": 5, "totalPages": 1, "number": 1}

        desk.run_operations()
        found, _ = items(desk, op_id)
        assert found == [
            (ids[0], "changed"),
            (ids[1], "unchanged"),  # already in the trash
            (ids[2], "changed"),
            (ids[3], "changed"),
            (MISSING, "missing"),
        ]
        assert items(desk, op_id, outcome="missing")[0] == [(MISSING, "missing")]
        assert items(desk, op_id, outcome="unchanged")[0] == [(ids[1], "unchanged")]
        assert items(desk, op_id, outcome="pending")[0] == []
        changed, page = items(desk, op_id, outcome="changed", pageSize=2, page=2)
        assert changed == [(ids[3], "changed")]
        assert page == {"size": 2, "totalElements": 3, "totalPages": 2, "number": 2}


def test_a_cancelled_operation_leaves_the_rest_pending(database_url: str) -> None:
    with desk_app(database_url, operation_chunk_size=1) as desk:
        agent, box = desk.user(), desk.mailbox()
        ids = [desk.conversation(box, customer=f"c{i}@ex.com") for i in range(3)]
        op_id = submit(desk, {"action": "delete", "conversationIds": ids, "byUser": agent})
        runner, now = desk.runner(), desk.ctx.clock()
        with desk.ctx.db.write() as conn:
            assert store.claim(conn, runner.owner, now, runner.lease_until(now)) == op_id
        assert runner.start(op_id) is False
        assert runner.run_chunk(op_id) is False
        assert desk.post(f"/operations/{op_id}/cancel", {}).status_code == 202
        assert runner.run_chunk(op_id) is True  # cancelled before its chunk began

        assert desk.get(f"/operations/{op_id}").json()["status"] == "cancelled"
        found, _ = items(desk, op_id)
        assert found == [(ids[0], "changed"), (ids[1], "pending"), (ids[2], "pending")]


def test_refusals(database_url: str) -> None:
    with desk_app(database_url) as desk:
        box = desk.mailbox()
        convo = desk.conversation(box)
        op_id = submit(desk, {"action": "delete", "conversationIds": [convo]})

        unknown = desk.get("/operations/op_nope/items")
        assert unknown.status_code == 404
        assert unknown.json()["message"] == "Not Found"

        for params, path in (
            ({"outcome": "lost"}, "outcome"),
            ({"pageSize": 0}, "pageSize"),
            ({"page": 0}, "page"),
        ):
            r = desk.get(f"/operations/{op_id}/items", **params)
            assert r.status_code == 400, r.text
            [error] = r.json()["_embedded"]["errors"]
            assert error["path"] == path
            assert error["source"] == "query"
        assert (
            "changed, missing, unchanged, pending"
            in desk.get(f"/operations/{op_id}/items", outcome="lost").json()["_embedded"]["errors"][
                0
            ]["message"]
        )
