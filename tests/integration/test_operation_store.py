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
            {
                "id": "op_t",
                "action": "delete",
                "status": "running",
                "selection": {},
                "params": {},
                "created_at": NOW,
            },
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


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        # Everything changed: no id list in the SQL at all.
        ({"changed": [10, 11, 12, 13], "missing": []}, "cccc"),
        # Most changed, one in no list: named through the complement.
        ({"changed": [10, 11, 13], "missing": []}, "ccuc"),
        # Changed, missing and unchanged in one chunk.
        ({"changed": [10, 11], "missing": [13]}, "ccum"),
        # Mostly missing.
        ({"changed": [12], "missing": [10, 11, 13]}, "mmcm"),
        # Nothing named: all unchanged.
        ({"changed": [], "missing": []}, "uuuu"),
    ],
)
def test_mark_records_every_outcome_of_a_chunk(
    db: Database, outcomes: dict[str, list[int]], expected: str
) -> None:
    op_id = _operation(db, [10, 11, 12, 13, 14, 15])
    with db.write() as conn:
        items = store.next_items(conn, op_id, 4)
        assert items == [(0, 10), (1, 11), (2, 12), (3, 13)]
        store.mark(conn, op_id, [p for p, _ in items], outcomes)
    names = {"c": "changed", "m": "missing", "u": "unchanged"}
    assert _outcomes(db, op_id) == {
        **{cid: names[code] for cid, code in zip([10, 11, 12, 13], expected, strict=True)},
        14: None,  # the next chunk is untouched
        15: None,
    }
    with db.read() as conn:
        assert store.next_items(conn, op_id, 10, 3) == [(4, 14), (5, 15)]
        changed = [cid for cid, code in zip([10, 11, 12, 13], expected, strict=True) if code == "c"]
        assert store.items_digest(conn, op_id, "changed") == ids_digest(changed)
        assert store.items_digest(conn, op_id) == ids_digest([10, 11, 12, 13, 14, 15])


def test_mark_refuses_an_unknown_outcome(db: Database) -> None:
    op_id = _operation(db, [10])
    with db.write() as conn, pytest.raises(AssertionError):
        store.mark(conn, op_id, [0], {"changed'; DROP TABLE events; --": [10]})
