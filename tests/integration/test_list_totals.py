"""List totals kept by triggers (ADR 0018): exact for every filter they answer, after
changes by every path, and under concurrent writers moving conversations between the same
groups in opposite directions (on PostgreSQL: no deadlock, no lost update)."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest
from alembic import command
from fastapi.testclient import TestClient

from tidings.app import create_app
from tidings.config import Settings
from tidings.db import totals
from tidings.db.engine import Database
from tidings.db.migrate import alembic_config, upgrade
from tidings.desk import conversations as convos
from tidings.desk.queries import ConversationFilter, totals_where
from tidings.events.outbox import transaction

H = {"X-FreeScout-API-Key": "k"}

# Every one is answered from the totals (checked below), so none counts rows.
FILTERS = [
    "",
    "&mailboxId={a}",
    "&mailboxId={a},{b}",
    "&status=active",
    "&status=active,pending",
    "&state=deleted",
    "&state=all",
    "&mailboxId={b}&status=closed",
    "&assignedTo=1",
    "&mailboxId={a}&assignedTo=1&status=pending",
]


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, api_key="k", run_workers=False))
    with TestClient(app) as c:
        user = {"firstName": "A", "lastName": "B", "email": "agent@e.io"}
        assert c.post("/api/users", json=user, headers=H).json()["id"] == 1
        yield c


def _total(client: TestClient, query: str) -> int:
    r = client.get(f"/api/conversations?pageSize=1{query}", headers=H)
    assert r.status_code == 200, r.text
    total: int = r.json()["page"]["totalElements"]
    return total


def _listed(client: TestClient, query: str) -> int:
    """How many conversations the list really holds, page by page."""
    seen, page = 0, 1
    while True:
        r = client.get(f"/api/conversations?pageSize=100&page={page}{query}", headers=H)
        items = r.json()["_embedded"]["conversations"]
        seen += len(items)
        if len(items) < 100:
            return seen
        page += 1


def test_the_totals_answer_the_common_filters_and_nothing_else() -> None:
    assert totals_where(ConversationFilter(mailbox_ids=[1], statuses=[1], state=2), "sqlite")
    assert totals_where(ConversationFilter(unassigned=True, folder_id=3), "sqlite")
    assert totals_where(ConversationFilter(tag="vip", state=2), "sqlite") is None
    assert totals_where(ConversationFilter(subject="refund"), "sqlite") is None


def test_totals_are_exact_after_changes_by_every_path(client: TestClient) -> None:
    boxes = [
        client.post("/api/mailboxes", json={"name": n, "email": f"{n}@e.io"}, headers=H).json()[
            "id"
        ]
        for n in ("a", "b")
    ]
    a, b = boxes
    ids = []
    for i in range(24):
        body = {
            "type": "email",
            "mailboxId": boxes[i % 2],
            "subject": f"S{i}",
            "customer": {"email": f"c{i % 5}@e.io"},
            "threads": [{"type": "customer", "text": "hi"}],
        }
        if i % 3 == 0:
            body["assignTo"] = 1
        ids.append(client.post("/api/conversations", json=body, headers=H).json()["id"])

    def put(convo_id: int, **body: object) -> None:
        r = client.put(f"/api/conversations/{convo_id}", json={**body, "byUser": 1}, headers=H)
        assert r.status_code == 204, r.text

    put(ids[0], status="closed")
    put(ids[1], status="pending", assignTo=1)
    put(ids[2], mailboxId=a)
    put(ids[3], state="deleted")
    put(ids[4], state="deleted")
    put(ids[4], state="published")  # restored
    put(ids[5], state="deleted")
    client.post(  # a customer's reply un-deletes
        f"/api/conversations/{ids[5]}/threads",
        json={"type": "customer", "text": "still there?", "customer": {"email": "c0@e.io"}},
        headers=H,
    )
    put(ids[6], assignTo=0)
    assert client.delete(f"/api/conversations/{ids[7]}", headers=H).status_code == 204
    put(ids[8], status="spam")

    for template in FILTERS:
        query = template.format(a=a, b=b)
        assert _total(client, query) == _listed(client, query), query


@pytest.mark.parametrize("writers", [4])
def test_concurrent_moves_between_the_same_groups_keep_totals_exact(
    db: Database, client: TestClient, writers: int
) -> None:
    """Writers move conversations between statuses and assignees, several per transaction,
    in every direction at once. On PostgreSQL, totals rows updated as each conversation
    moves would deadlock (one writer holding group A's row and wanting B's, another the
    reverse) or queue; folded under the append lock they do neither."""
    box = client.post("/api/mailboxes", json={"name": "m", "email": "m@e.io"}, headers=H).json()[
        "id"
    ]
    ids = [
        client.post(
            "/api/conversations",
            json={
                "type": "email",
                "mailboxId": box,
                "subject": f"S{i}",
                "customer": {"email": f"x{i}@e.io"},
                "threads": [{"type": "customer", "text": "hi"}],
            },
            headers=H,
        ).json()["id"]
        for i in range(12)
    ]
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            for _ in range(25):
                # Conversations locked in id order, as bulk operations lock them; the
                # groups they move between come in any order.
                picked = sorted(rnd.sample(ids, 3))
                with transaction(db) as tx:
                    for convo_id in picked:
                        status = rnd.choice(("active", "closed", "pending"))
                        body = {"status": status, "assignTo": rnd.choice((0, 1)), "byUser": 1}
                        convos.update_conversation(tx, convo_id, body)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        assert totals.stored(conn) == totals.counted(conn)
        leftovers = conn.exec_driver_sql("SELECT count(*) FROM conversation_total_changes")
        assert leftovers.scalar_one() == 0  # every transaction folded its own changes
    for query in ("", "&status=active", "&assignedTo=1", "&status=closed&assignedTo=1"):
        assert _total(client, query) == _listed(client, query), query


def test_the_migration_counts_the_conversations_already_there(
    db: Database, client: TestClient
) -> None:
    """Upgrading a desk that has conversations (here: down to 0002, which drops the totals
    and their triggers, and up again) fills the totals from them."""
    box = client.post("/api/mailboxes", json={"name": "m", "email": "m@e.io"}, headers=H).json()[
        "id"
    ]
    for i in range(7):
        body = {
            "type": "email",
            "mailboxId": box,
            "subject": f"S{i}",
            "customer": {"email": f"m{i}@e.io"},
            "threads": [{"type": "customer", "text": "hi"}],
            "status": ("active", "pending", "closed")[i % 3],
        }
        assert client.post("/api/conversations", json=body, headers=H).status_code == 201
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    upgrade(db)
    with db.read() as conn:
        assert totals.stored(conn) == totals.counted(conn)
        assert sum(totals.stored(conn).values()) == 7
    assert _total(client, "&status=closed") == 2
