"""Plain helpers for tests (importable as ``tests.helpers``)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from tidings.db import totals
from tidings.db.engine import Database
from tidings.db.schema import conversations, customer_emails, customers, threads
from tidings.desk.enums import FolderType, SourceType, State, Status, ThreadState, ThreadType, Via
from tidings.desk.folders import FolderMap
from tidings.desk.mailboxes import create_mailbox
from tidings.events.outbox import transaction


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def gone(pid: int) -> bool:
    """The process has exited: reaped, or a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def seed(database_url: str, total: int) -> tuple[int, list[int]]:
    """One mailbox, one customer, ``total`` conversations with one customer thread each,
    written in bulk (no events: they are the test's starting point); the mailbox and the
    conversations' ids."""
    db = Database(database_url)
    try:
        with transaction(db) as tx:
            box = create_mailbox(tx, {"name": "Bulk", "email": "bulk@example.com"})
            folder = FolderMap(tx.conn, {box}).folder_id(box, FolderType.UNASSIGNED)
        now = datetime.now(UTC)
        with db.write() as conn:
            customer = conn.execute(
                insert(customers).values(
                    first_name="Bulk",
                    phones=[],
                    social_profiles=[],
                    websites=[],
                    address={},
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(insert(customer_emails).values(customer_id=customer, email="b@ex.com"))
            conn.execute(
                insert(conversations),
                [
                    {
                        "number": n,
                        "mailbox_id": box,
                        "folder_id": folder,
                        "type": 1,
                        "status": Status.ACTIVE,
                        "state": State.PUBLISHED,
                        "subject": f"Conversation {n}",
                        "preview": "hello",
                        "customer_id": customer,
                        "customer_email": "b@ex.com",
                        "cc": [],
                        "bcc": [],
                        "source_type": SourceType.API,
                        "source_via": Via.CUSTOMER,
                        "created_by_customer_id": customer,
                        "threads_count": 1,
                        "imported": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(1, total + 1)
                ],
            )
            ids = list(
                conn.execute(select(conversations.c.id).order_by(conversations.c.id)).scalars()
            )
            conn.execute(
                insert(threads),
                [
                    {
                        "conversation_id": cid,
                        "type": ThreadType.CUSTOMER,
                        "status": Status.NOCHANGE,
                        "state": ThreadState.PUBLISHED,
                        "body": "hello",
                        "source_type": SourceType.API,
                        "source_via": Via.CUSTOMER,
                        "customer_id": customer,
                        "created_by_customer_id": customer,
                        "to": [],
                        "cc": [],
                        "bcc": [],
                        "meta": {},
                        "imported": False,
                        "created_at": now,
                    }
                    for cid in ids
                ],
            )
            totals.fold(conn)  # what the outbox does for a change with events
        assert len(ids) == total
        return box, ids
    finally:
        db.dispose()
