"""tidings.operations.store: the SQL under the runner, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tidings.db.engine import Database
from tidings.operations import store
from tidings.operations.confirm import ids_digest

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _operation(db: Database, ids: list[int]) -> str:
    with db.write() as conn:
        store.insert_operation(
            conn,
            op_id="op_t",
            action="delete",
            selection={},
            params={},
            by_user_id=None,
            atomic=False,
            timeout_seconds=None,
            now=NOW,
        )
        store.freeze_ids(conn, "op_t", ids)
    return "op_t"


def _outcomes(db: Database, op_id: str) -> dict[int, str | None]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT conversation_id, outcome FROM operation_items"
            f" WHERE operation_id = '{op_id}' ORDER BY position"
        ).all()
    return {r[0]: r[1] for r in rows}


def _next_position(db: Database, op_id: str) -> int:
    with db.read() as conn:
        return int(store.get(conn, op_id).next_position)


@pytest.mark.parametrize(
    ("unchanged", "missing", "expected"),
    [
        # Everything changed: no outcome written at all.
        ([], [], "cccc"),
        # One unchanged.
        ([12], [], "ccuc"),
        # Changed, missing and unchanged in one chunk.
        ([12], [13], "ccum"),
        # Mostly missing.
        ([], [10, 11, 13], "mmcm"),
        # All unchanged.
        ([10, 11, 12, 13], [], "uuuu"),
    ],
)
def test_a_chunk_records_the_exceptions_and_moves_the_cursor(
    db: Database, unchanged: list[int], missing: list[int], expected: str
) -> None:
    op_id = _operation(db, [10, 11, 12, 13, 14, 15])
    with db.write() as conn:
        items = store.next_items(conn, op_id, 4, -1)
        assert items == [(0, 10), (1, 11), (2, 12), (3, 13)]
        store.record_chunk(
            conn,
            op_id,
            items,
            unchanged=unchanged,
            missing=missing,
            lease_until=NOW,
        )
    names = {"c": None, "m": "missing", "u": "unchanged"}  # changed: no outcome
    assert _outcomes(db, op_id) == {
        **{cid: names[code] for cid, code in zip([10, 11, 12, 13], expected, strict=True)},
        14: None,  # the next chunk is untouched
        15: None,
    }
    assert _next_position(db, op_id) == 4
    with db.read() as conn:
        op = store.get(conn, op_id)
        assert (op.processed, op.succeeded, op.failed) == (4, 4 - len(missing), len(missing))
        assert store.next_items(conn, op_id, 10, op.next_position - 1) == [(4, 14), (5, 15)]
        changed = [cid for cid, code in zip([10, 11, 12, 13], expected, strict=True) if code == "c"]
        # Items 14 and 15 have no outcome either, but are not done yet.
        assert store.changed_digest(conn, op_id) == ids_digest(changed)
        assert store.items_digest(conn, op_id) == ids_digest([10, 11, 12, 13, 14, 15])
