"""SQL for operations and their frozen selections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from tidings.clock import isoformat
from tidings.db.schema import operation_items, operations

ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled", "timed_out")


def insert_operation(conn: Connection, row: dict[str, Any], ids: Sequence[int]) -> None:
    conn.execute(insert(operations).values(**row))
    for start in range(0, len(ids), 5000):
        conn.execute(
            insert(operation_items),
            [
                {"operation_id": row["id"], "position": start + i, "conversation_id": cid}
                for i, cid in enumerate(ids[start : start + 5000])
            ],
        )


def get(conn: Connection, op_id: str, *, lock: bool = False) -> Any:
    query = select(operations).where(operations.c.id == op_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def list_recent(
    conn: Connection, status: str | None, limit: int, offset: int
) -> tuple[list[Any], int]:
    where = [operations.c.status == status] if status else []
    rows = conn.execute(
        select(operations)
        .where(*where)
        .order_by(operations.c.created_at.desc(), operations.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(operations).where(*where)).scalar_one()
    return list(rows), int(total)


def claim(conn: Connection, owner: str, now: datetime, until: datetime) -> str | None:
    """Take the oldest runnable operation whose lease is free or expired."""
    query = (
        select(operations.c.id)
        .where(
            operations.c.status.in_(ACTIVE),
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


def hold_lease(conn: Connection, op_id: str, owner: str, until: datetime) -> bool:
    """Extend our lease; False when another worker has taken the operation over."""
    result = conn.execute(
        update(operations)
        .where(operations.c.id == op_id, operations.c.lease_owner == owner)
        .values(lease_until=until)
    )
    return result.rowcount == 1


def next_items(
    conn: Connection, op_id: str, limit: int | None, after: int = -1
) -> list[tuple[int, int]]:
    """The next unprocessed items after position ``after``, in order.

    Runners pass the last position they processed, so each chunk reads a range of
    the primary key instead of re-scanning every item done so far.
    """
    query = (
        select(operation_items.c.position, operation_items.c.conversation_id)
        .where(
            operation_items.c.operation_id == op_id,
            operation_items.c.position > after,
            operation_items.c.outcome.is_(None),
        )
        .order_by(operation_items.c.position)
    )
    if limit is not None:
        query = query.limit(limit)
    return [(int(p), int(c)) for p, c in conn.execute(query)]


def mark(
    conn: Connection, op_id: str, positions: tuple[int, int], outcomes: dict[str, list[int]]
) -> None:
    first, last = positions
    in_chunk = and_(
        operation_items.c.operation_id == op_id,
        operation_items.c.position >= first,
        operation_items.c.position <= last,
    )
    conn.execute(
        update(operation_items)
        .where(in_chunk, operation_items.c.outcome.is_(None))
        .values(outcome="unchanged")
    )
    for outcome, ids in outcomes.items():
        for start in range(0, len(ids), 900):
            conn.execute(
                update(operation_items)
                .where(in_chunk, operation_items.c.conversation_id.in_(ids[start : start + 900]))
                .values(outcome=outcome)
            )


def add_counts(
    conn: Connection,
    op_id: str,
    *,
    processed: int,
    succeeded: int,
    failed: int,
    lease_until: datetime,
) -> None:
    conn.execute(
        update(operations)
        .where(operations.c.id == op_id)
        .values(
            processed=operations.c.processed + processed,
            succeeded=operations.c.succeeded + succeeded,
            failed=operations.c.failed + failed,
            lease_until=lease_until,
        )
    )


def changed_ids(conn: Connection, op_id: str) -> list[int]:
    return list(
        conn.execute(
            select(operation_items.c.conversation_id).where(
                operation_items.c.operation_id == op_id, operation_items.c.outcome == "changed"
            )
        ).scalars()
    )


def set_fields(conn: Connection, op_id: str, **values: Any) -> None:
    conn.execute(update(operations).where(operations.c.id == op_id).values(**values))


def operation_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "action": row.action,
        "status": row.status,
        "total": row.total,
        "processed": row.processed,
        "succeeded": row.succeeded,
        "failed": row.failed,
        "createdAt": isoformat(row.created_at),
        "startedAt": isoformat(row.started_at),
        "finishedAt": isoformat(row.finished_at),
        "error": row.error,
        "atomic": row.atomic,
        "timeoutSeconds": row.timeout_seconds,
        "byUser": row.by_user_id,
        "params": row.params,
        "digest": row.digest,
    }
