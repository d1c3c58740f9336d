"""List totals: folding the triggers' +1/-1 rows into ``conversation_totals`` (ADR 0018).

Triggers on ``conversations`` append a change row for every conversation that enters or
leaves a (mailbox, folder, status, state, assignee) group; appending never waits on
another writer. ``fold`` adds a transaction's change rows to the totals and deletes them.
The outbox calls it just before commit, under the lock that already orders commits on
PostgreSQL (SQLite has one writer), so totals rows are only ever updated by one
transaction at a time: no waits, no deadlocks, and every committed transaction leaves the
totals exact. That relies on invariant 1: a transaction that changes conversations
appends events, so it passes through the outbox's append.
"""

from __future__ import annotations

from sqlalchemy import Connection

from tidings.db import raw

GROUP = "mailbox_id, folder_id, status, state, user_id"
Group = tuple[int, int, int, int, int]

_ADD = (
    f"INSERT INTO conversation_totals ({GROUP}, n)"
    " SELECT {group}, sum(delta) FROM {source} WHERE true GROUP BY 1, 2, 3, 4, 5"
    # A fixed order: two folds could never wait on each other's rows in a cycle.
    " ORDER BY 1, 2, 3, 4, 5"
    f" ON CONFLICT ({GROUP}) DO UPDATE SET n = conversation_totals.n + excluded.n"
)
FOLD_POSTGRESQL = "WITH moved AS (DELETE FROM conversation_total_changes RETURNING *) " + (
    _ADD.format(group=GROUP, source="moved")
)
_FOLD_SQLITE = (_ADD.format(group=GROUP, source="conversation_total_changes"),
                "DELETE FROM conversation_total_changes")  # fmt: skip


def fold(conn: Connection) -> None:
    """Move this transaction's change rows (and any committed leftovers) into the totals."""
    if conn.dialect.name == "postgresql":
        raw.execute(conn, FOLD_POSTGRESQL)
    else:
        for statement in _FOLD_SQLITE:
            raw.execute(conn, statement)


def counted(conn: Connection) -> dict[Group, int]:
    """The totals counted from the conversations themselves (what ``stored`` must equal)."""
    rows = raw.rows(
        conn,
        "SELECT mailbox_id, folder_id, status, state, coalesce(user_id, 0), count(*)"
        " FROM conversations GROUP BY 1, 2, 3, 4, 5",
    )
    return {tuple(r[:5]): int(r[5]) for r in rows}


def stored(conn: Connection) -> dict[Group, int]:
    """The stored totals, change rows not yet folded included, empty groups left out."""
    rows = raw.rows(
        conn,
        f"SELECT {GROUP}, sum(n) FROM (SELECT {GROUP}, n FROM conversation_totals"
        f" UNION ALL SELECT {GROUP}, delta FROM conversation_total_changes) t"
        " GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0",
    )
    return {tuple(r[:5]): int(r[5]) for r in rows}


def rebuild(conn: Connection) -> None:
    """Count the totals again from the conversations (after a bulk load that bypassed
    the outbox, such as a benchmark's data set)."""
    raw.execute(conn, "DELETE FROM conversation_total_changes")
    raw.execute(conn, "DELETE FROM conversation_totals")
    raw.execute(
        conn,
        f"INSERT INTO conversation_totals ({GROUP}, n)"
        " SELECT mailbox_id, folder_id, status, state, coalesce(user_id, 0), count(*)"
        " FROM conversations GROUP BY 1, 2, 3, 4, 5",
    )
