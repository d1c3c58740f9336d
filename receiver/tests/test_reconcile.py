"""reconcile() against a real Tidings and its ``GET /api/conversations/digest``: a local
copy of 10,000 conversations, corrupted on purpose and left behind by changes on the
server, is found out conversation by conversation and repaired until the digests agree."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Any

from receiver_kit import KEY, Tidings, tidings_server
from tests.helpers import seed
from tidings_receiver import reconcile
from tidings_receiver.digest import Digest, Item, digest

TOTAL = 10_000


class Copy:
    """An integrator's copy: id -> (updatedAt, state, mailboxId)."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, str, int]] = {}
        self.upserted: list[dict[str, Any]] = []
        self.deleted: list[int] = []

    def items(self, mailbox_id: int | None) -> Iterable[tuple[int, str, str]]:
        return [(i, u, s) for i, (u, s, m) in self.rows.items() if mailbox_id in (None, m)]

    def upsert(self, conversation: dict[str, Any]) -> None:
        self.upserted.append(conversation)
        c = conversation
        self.rows[c["id"]] = (c["updatedAt"], c["state"], c["mailboxId"])

    def delete(self, conversation_id: int) -> None:
        self.deleted.append(conversation_id)
        del self.rows[conversation_id]


def copy_of(tidings: Tidings, box: int) -> Copy:
    """A faithful copy, from the digest's bucket listings (64 requests, not 10,000)."""
    copy = Copy()
    for k in range(64):
        listed = tidings.api.get("/conversations/digest", params={"bucket": k}).json()
        for c in listed["conversations"]:
            copy.rows[c["id"]] = (c["updatedAt"], c["state"], box)
    return copy


def user(tidings: Tidings) -> int:
    made = tidings.post("/users", {"firstName": "Ann", "lastName": "L", "email": "ann@example.com"})
    return int(made["id"])


def server_digest(tidings: Tidings, **params: Any) -> Digest:
    return Digest.from_json(tidings.api.get("/conversations/digest", params=params).json())


def test_reconcile_finds_and_repairs_a_corrupted_copy_of_10000(tmp_path: Path) -> None:
    with tidings_server(tmp_path) as tidings:
        box, ids = seed(f"sqlite:///{tmp_path / 'tidings.db'}", TOTAL)
        copy = copy_of(tidings, box)
        agent = user(tidings)
        assert len(copy.rows) == TOTAL
        assert digest(Item(i, u, s) for i, (u, s, _) in copy.rows.items()) == server_digest(tidings)

        rng = random.Random(20261206)
        picked = rng.sample(ids, 120)
        lost, aged, flipped = picked[:40], picked[40:70], picked[70:90]
        trashed, destroyed = picked[90:105], picked[105:120]
        for i in lost:
            del copy.rows[i]
        for i in aged:
            updated, state, m = copy.rows[i]
            copy.rows[i] = ("2020-01-01T00:00:00Z", state, m)
        for i in flipped:
            updated, _, m = copy.rows[i]
            copy.rows[i] = (updated, "draft", m)
        ghosts = [TOTAL * 3 + n for n in range(25)]  # never existed on the server
        for i in ghosts:
            copy.rows[i] = ("2026-01-01T00:00:00Z", "published", box)
        # And the server moves on without the copy hearing of it.
        for i in trashed:
            r = tidings.api.put(f"/conversations/{i}", json={"state": "deleted", "byUser": agent})
            assert r.status_code == 204, r.text
        for i in destroyed:
            assert tidings.api.delete(f"/conversations/{i}").status_code == 204

        report = reconcile(copy, tidings.url, KEY)
        assert report.missing == sorted(lost)
        assert report.extra == sorted(ghosts + destroyed)
        assert report.stale == sorted(aged + flipped + trashed)
        assert (report.remote_total, report.local_total) == (TOTAL - 15, TOTAL - 40 + 25)
        assert report.upserted == report.deleted == []
        assert not report.in_sync
        assert len(copy.rows) == TOTAL - 40 + 25  # a report changes nothing

        repaired = reconcile(copy, tidings.url, KEY, repair=True)
        assert repaired.upserted == sorted(lost + aged + flipped + trashed)
        assert repaired.deleted == sorted(ghosts + destroyed)
        assert {c["id"]: c["state"] for c in copy.upserted if c["id"] in trashed} == dict.fromkeys(
            trashed, "deleted"
        )
        assert reconcile(copy, tidings.url, KEY).in_sync
        assert digest(Item(i, u, s) for i, (u, s, _) in copy.rows.items()) == server_digest(tidings)


def test_reconcile_fetches_only_the_buckets_that_differ_within_its_filters(tmp_path: Path) -> None:
    with tidings_server(tmp_path) as tidings:
        box, ids = seed(f"sqlite:///{tmp_path / 'tidings.db'}", 300)
        with closing(sqlite3.connect(tmp_path / "tidings.db")) as conn, conn:  # seeded long ago
            conn.execute("UPDATE conversations SET updated_at = '2026-01-01 00:00:00.000000'")
        copy = copy_of(tidings, box)
        other = tidings.post("/mailboxes", {"name": "Other", "email": "o@example.com"})["id"]
        moved = ids[7]
        r = tidings.api.put(
            f"/conversations/{moved}", json={"mailboxId": other, "byUser": user(tidings)}
        )
        assert r.status_code == 204, r.text
        since = tidings.api.get(f"/conversations/{moved}").json()["updatedAt"]

        report = reconcile(copy, tidings.url, KEY, mailbox_id=box, repair=True)
        # Moved away, not deleted: the copy takes the server's version, not a deletion.
        assert (report.buckets, report.extra, report.upserted, report.deleted) == (
            [moved % 64],
            [moved],
            [moved],
            [],
        )
        assert copy.rows[moved][2] == other
        assert reconcile(copy, tidings.url, KEY, mailbox_id=box).in_sync
        assert reconcile(copy, tidings.url, KEY, mailbox_id=other).in_sync
        # Only what changed since: the moved conversation, in the other mailbox.
        recent = reconcile(copy, tidings.url, KEY, updated_since=since)
        assert (recent.remote_total, recent.local_total, recent.in_sync) == (1, 1, True)
