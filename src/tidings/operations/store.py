"""Every SQL statement about operations and their frozen selections.

The rest of the package reads and changes operations only through these functions,
which take the caller's connection (so they join its transaction) and return typed
``Operation`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, or_, select, update

from tidings.db import raw
from tidings.db.raw import Statement
from tidings.db.rows import inline_ids
from tidings.db.schema import operation_items, operations
from tidings.desk.queries import Where
from tidings.operations.confirm import sorted_ids_digest
from tidings.operations.model import ACTIVE, Operation, OperationStatus

ANALYZE_AFTER = 5000


class Item(NamedTuple):
    """One conversation of an operation's frozen selection, at its position."""

    position: int
    conversation_id: int


# What became of an item: ``changed``; ``missing`` (it no longer existed); ``unchanged``
# (already as asked, or no longer selected); ``pending`` (not done: the operation is
# still running or stopped before it).
ITEM_OUTCOMES = ("changed", "missing", "unchanged", "pending")


class ItemOutcome(NamedTuple):
    position: int
    conversation_id: int
    outcome: str


# --- creating --------------------------------------------------------------------------


def insert_operation(
    conn: Connection,
    *,
    op_id: str,
    action: str,
    selection: dict[str, Any],
    params: dict[str, Any],
    by_user_id: int | None,
    atomic: bool,
    timeout_seconds: int | None,
    now: datetime,
) -> None:
    """A queued operation with no items yet (``freeze_*`` adds them, ``set_total`` counts)."""
    conn.execute(
        insert(operations).values(
            id=op_id,
            action=action,
            status=OperationStatus.QUEUED.value,
            selection=selection,
            params=params,
            by_user_id=by_user_id,
            atomic=atomic,
            timeout_seconds=timeout_seconds,
            total=0,
            processed=0,
            succeeded=0,
            failed=0,
            cancel_requested=False,
            created_at=now,
        )
    )


def set_total(conn: Connection, op_id: str, total: int) -> None:
    conn.execute(update(operations).where(operations.c.id == op_id).values(total=total))


def freeze_ids(conn: Connection, op_id: str, ids: Sequence[int]) -> int:
    """Freeze a given list of ids as the operation's items, in that order; their count."""
    for start in range(0, len(ids), 5000):
        raw.insert_many(
            conn,
            "INSERT INTO operation_items (operation_id, position, conversation_id)"
            " VALUES (?, ?, ?)",
            [(op_id, start + i, cid) for i, cid in enumerate(ids[start : start + 5000])],
        )
    _analyze(conn, len(ids))
    return len(ids)


def freeze_matching(conn: Connection, op_id: str, matching: Statement) -> int:
    """Freeze the ids ``matching`` selects (``SELECT id ...``), in id order, inside the
    database (no id passes through this process, so memory is flat in N); their count."""
    count = raw.execute(
        conn,
        Statement(
            "INSERT INTO operation_items (operation_id, position, conversation_id)"
            f" SELECT ?, ROW_NUMBER() OVER (ORDER BY id) - 1, id FROM ({matching.sql}) picked",
            (op_id, *matching.params),
        ),
    )
    _analyze(conn, count)
    return count


def matching_ids(where: Where, limit: int) -> Statement:
    """The ids of the first ``limit`` conversations matching ``where``, ascending."""
    return Statement(
        f"SELECT id FROM conversations{where.sql} ORDER BY id LIMIT {int(limit)}",
        tuple(where.params),
    )


def _analyze(conn: Connection, count: int) -> None:
    if conn.dialect.name == "postgresql" and count >= ANALYZE_AFTER:
        # Without statistics on the rows just written PostgreSQL expects one item, and
        # reads every remaining item and sorts them for each chunk (~30 ms a chunk at
        # 100,000) instead of walking the primary key.
        conn.exec_driver_sql("ANALYZE operation_items")


def items_digest(conn: Connection, op_id: str) -> str:
    """``ids_digest`` of all the operation's items, streamed."""
    return sorted_ids_digest(raw.batches(conn, Statement(_ITEM_IDS, (op_id,))))


def changed_digest(conn: Connection, op_id: str) -> str:
    """``ids_digest`` of the items done and changed: before the operation's
    ``next_position``, with no outcome (``schema.operation_items``), streamed."""
    changed = _ITEM_IDS.replace(
        " ORDER BY",
        " AND outcome IS NULL AND position <"
        " (SELECT next_position FROM operations WHERE id = ?) ORDER BY",
    )
    return sorted_ids_digest(raw.batches(conn, Statement(changed, (op_id, op_id))))


_ITEM_IDS = (
    "SELECT conversation_id FROM operation_items WHERE operation_id = ? ORDER BY conversation_id"
)


# --- reading ---------------------------------------------------------------------------


def get(conn: Connection, op_id: str) -> Operation | None:
    row = conn.execute(select(operations).where(operations.c.id == op_id)).first()
    return None if row is None else Operation.from_row(row)


def list_recent(
    conn: Connection, status: OperationStatus | None, limit: int, offset: int
) -> tuple[list[Operation], int]:
    where = [operations.c.status == status.value] if status else []
    rows = conn.execute(
        select(operations)
        .where(*where)
        .order_by(operations.c.created_at.desc(), operations.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(operations).where(*where)).scalar_one()
    return [Operation.from_row(r) for r in rows], int(total)


def next_items(conn: Connection, op_id: str, limit: int | None, after: int) -> list[Item]:
    """The items after position ``after`` in order (a range of the primary key); all of
    them when ``limit`` is None."""
    found = raw.rows(
        conn,
        Statement(
            "SELECT position, conversation_id FROM operation_items"
            " WHERE operation_id = ? AND position > ? ORDER BY position"
            + (f" LIMIT {int(limit)}" if limit is not None else ""),
            (op_id, after),
        ),
    )
    return [Item(int(p), int(c)) for p, c in found]


def list_items(
    conn: Connection, op: Operation, outcome: str | None, limit: int, offset: int
) -> tuple[list[ItemOutcome], int]:
    """A page of the operation's items in selection order, each with its outcome (one of
    ``ITEM_OUTCOMES``, or only those of ``outcome``), and how many there are in all."""
    items = operation_items.c
    where = [items.operation_id == op.id]
    if outcome in ("missing", "unchanged"):
        where.append(items.outcome == outcome)
    elif outcome == "changed":
        where += [items.outcome.is_(None), items.position < op.next_position]
    elif outcome == "pending":
        where.append(items.position >= op.next_position)
    rows = conn.execute(
        select(items.position, items.conversation_id, items.outcome)
        .where(*where)
        .order_by(items.position)
        .limit(limit)
        .offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(operation_items).where(*where))
    # Only the exceptions carry an outcome (``record_chunk``): the others are told apart
    # by the position where the next chunk starts.
    done = [
        ItemOutcome(p, c, o or ("changed" if p < op.next_position else "pending"))
        for p, c, o in rows
    ]
    return done, int(total.scalar_one())


# --- the worker's lease ----------------------------------------------------------------


def claim(conn: Connection, owner: str, now: datetime, until: datetime) -> str | None:
    """Take the oldest runnable operation whose lease is free or expired."""
    query = (
        select(operations.c.id)
        .where(
            operations.c.status.in_([s.value for s in ACTIVE]),
            or_(operations.c.lease_until.is_(None), operations.c.lease_until < now),
        )
        .order_by(operations.c.created_at)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    op_id = conn.execute(query).scalar()
    if op_id is None:
        return None
    conn.execute(
        update(operations)
        .where(operations.c.id == op_id)
        .values(lease_owner=owner, lease_until=until)
    )
    return str(op_id)


def hold_lease(conn: Connection, op_id: str, owner: str, until: datetime) -> Operation | None:
    """Extend ``owner``'s lease and return the operation, its row now locked until the end
    of the transaction; None when another worker has taken the operation over."""
    row = conn.execute(
        update(operations)
        .where(operations.c.id == op_id, operations.c.lease_owner == owner)
        .values(lease_until=until)
        .returning(*operations.c)
    ).first()
    return None if row is None else Operation.from_row(row)


def release(conn: Connection, op_id: str, owner: str) -> None:
    """Give the lease up, so that any worker may resume the operation at once."""
    conn.execute(
        update(operations)
        .where(operations.c.id == op_id, operations.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


# --- changing state --------------------------------------------------------------------


def start(conn: Connection, op_id: str, now: datetime) -> None:
    _set(conn, op_id, status=OperationStatus.RUNNING.value, started_at=now)


def finish(
    conn: Connection,
    op_id: str,
    status: OperationStatus,
    now: datetime,
    *,
    error: str | None = None,
    digest: str | None = None,
) -> None:
    """End the operation in ``status`` and release its lease."""
    assert status.finished
    _set(
        conn,
        op_id,
        status=status.value,
        finished_at=now,
        lease_owner=None,
        lease_until=None,
        error=error,
        digest=digest,
    )


def mark_progress(conn: Connection, op_id: str, now: datetime) -> None:
    _set(conn, op_id, last_progress_at=now)


def request_cancel(conn: Connection, op_id: str) -> Operation | None:
    """Ask a queued or running operation to stop after its current chunk (a finished one
    is left as it is); the operation, or None if there is none."""
    conn.execute(
        update(operations)
        .where(operations.c.id == op_id, operations.c.status.in_([s.value for s in ACTIVE]))
        .values(cancel_requested=True)
    )
    return get(conn, op_id)


def record_chunk(
    conn: Connection,
    op_id: str,
    items: Sequence[Item],
    *,
    unchanged: Sequence[int],
    missing: Sequence[int],
    lease_until: datetime,
) -> None:
    """A chunk is done: ``items`` (consecutive), of which the conversations ``unchanged``
    and ``missing`` (one per item) did not change and the others did.

    Only the exceptions get an outcome (usually none: no statement at all); the operation
    row moves its counters and ``next_position`` past the chunk. Plain text
    (``tidings.db.raw``): SQLAlchemy Core took ~0.4 ms a statement here, against ~20 us.
    """
    first, last = items[0].position, items[-1].position
    if unchanged or missing:
        outcome = (
            f"CASE WHEN conversation_id IN ({inline_ids(missing)}) THEN 'missing'"
            " ELSE 'unchanged' END"
            if missing
            else "'unchanged'"
        )
        raw.execute(
            conn,
            Statement(
                f"UPDATE operation_items SET outcome = {outcome} WHERE operation_id = ?"
                " AND position BETWEEN ? AND ?"
                f" AND conversation_id IN ({inline_ids([*unchanged, *missing])})",
                (op_id, first, last),
            ),
        )
    raw.execute(
        conn,
        Statement(
            "UPDATE operations SET processed = processed + ?, succeeded = succeeded + ?,"
            " failed = failed + ?, lease_until = ?, next_position = ? WHERE id = ?",
            (
                len(items),
                len(items) - len(missing),
                len(missing),
                raw.bind(lease_until, conn.dialect.name),
                last + 1,
                op_id,
            ),
        ),
    )


def _set(conn: Connection, op_id: str, **values: Any) -> None:
    conn.execute(update(operations).where(operations.c.id == op_id).values(**values))
