"""GET /api/conversations/digest: counts and hashes of (id, updatedAt, state) in buckets.

Every expected hash is computed here, independently of the server's code, from what
``GET /api/conversations?state=all`` lists: the contract ``tidings_receiver`` relies on
(docs/api.md, "Conversation digest").
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import update

from tests.api.support import (
    ApiClient,
    Desk,
    FakeClock,
    assert_invalid,
    create_conversation,
    new_conversation,
    put,
)
from tidings.db import schema
from tidings.db.engine import Database

DIGEST = "/api/conversations/digest"
EMPTY = hashlib.sha256(b"").hexdigest()


def listed(client: ApiClient, **params: Any) -> list[dict[str, Any]]:
    """Every conversation the list shows (every state), ascending by id."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get(
            "/api/conversations",
            params={"state": "all", "pageSize": 500, "page": page, **params},
        ).json()
        found += body["_embedded"]["conversations"]
        if page >= body["page"]["totalPages"]:
            return sorted(found, key=lambda c: c["id"])
        page += 1


def expected(conversations: list[dict[str, Any]], buckets: int) -> dict[str, Any]:
    """The digest, computed from conversation objects as the contract defines it."""
    members: list[list[dict[str, Any]]] = [[] for _ in range(buckets)]
    for convo in conversations:
        members[convo["id"] % buckets].append(convo)
    items = []
    for k, group in enumerate(members):
        text = "".join(f"{c['id']}:{c['updatedAt']}:{c['state']}\n" for c in group)
        items.append(
            {"bucket": k, "count": len(group), "hash": hashlib.sha256(text.encode()).hexdigest()}
        )
    top = hashlib.sha256("\n".join(i["hash"] for i in items).encode()).hexdigest()
    return {"buckets": buckets, "total": len(conversations), "hash": top, "items": items}


def get_digest(client: ApiClient, **params: Any) -> dict[str, Any]:
    response = client.get(DIGEST, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def stock(client: ApiClient, desk: Desk, db: Database) -> list[int]:
    """Nine conversations in two mailboxes: published, two in the trash, one draft, and
    one deleted forever (which no digest counts)."""
    ids = [
        create_conversation(client, new_conversation(box))["id"]
        for box in [desk.mailbox] * 6 + [desk.mailbox2] * 4
    ]
    for trashed in ids[1], ids[7]:
        put(client, f"/api/conversations/{trashed}", {"state": "deleted", "byUser": desk.admin})
    with db.write() as conn:
        conn.execute(
            update(schema.conversations).where(schema.conversations.c.id == ids[2]).values(state=1)
        )
    assert client.delete(f"/api/conversations/{ids[4]}").status_code == 204
    return [i for i in ids if i != ids[4]]


def test_an_empty_desk(client: ApiClient, desk: Desk) -> None:
    body = get_digest(client)
    assert body == {
        "buckets": 64,
        "total": 0,
        "hash": hashlib.sha256("\n".join([EMPTY] * 64).encode()).hexdigest(),
        "items": [{"bucket": k, "count": 0, "hash": EMPTY} for k in range(64)],
    }


@pytest.mark.parametrize("buckets", [None, 1, 3, 4096])
def test_the_digest_is_the_listed_conversations(
    client: ApiClient, stock: list[int], buckets: int | None
) -> None:
    conversations = listed(client)
    assert [c["id"] for c in conversations] == stock
    assert {c["state"] for c in conversations} == {"published", "deleted", "draft"}
    params = {} if buckets is None else {"buckets": buckets}
    assert get_digest(client, **params) == expected(conversations, buckets or 64)


def test_a_change_changes_its_bucket_only(
    client: ApiClient, desk: Desk, stock: list[int], clock: FakeClock
) -> None:
    before = get_digest(client, buckets=4)
    changed = stock[0]
    put(client, f"/api/conversations/{changed}", {"status": "closed", "byUser": desk.admin})
    after = get_digest(client, buckets=4)
    assert after == expected(listed(client), 4)
    differ = [k for k in range(4) if before["items"][k] != after["items"][k]]
    assert differ == [changed % 4]
    assert before["hash"] != after["hash"]
    assert after["total"] == before["total"]


def test_mailbox_filter(client: ApiClient, desk: Desk, stock: list[int]) -> None:
    for box in desk.mailbox, desk.mailbox2:
        mine = listed(client, mailboxId=box)
        assert {c["mailboxId"] for c in mine} == {box}
        assert get_digest(client, mailboxId=box, buckets=5) == expected(mine, 5)
    # An unknown mailbox has no conversations, as GET /api/conversations?mailboxId= says;
    # a copy of a mailbox deleted since then compares with this and empties itself.
    assert get_digest(client, mailboxId=999999, buckets=2) == expected([], 2)


def test_updated_since(client: ApiClient, desk: Desk, stock: list[int]) -> None:
    conversations = listed(client)
    since = conversations[len(conversations) // 2]["updatedAt"]
    later = [c for c in conversations if c["updatedAt"] >= since]
    assert 0 < len(later) < len(conversations)
    assert listed(client, updatedSince=since) == later
    assert get_digest(client, updatedSince=since, buckets=3) == expected(later, 3)
    both = [c for c in later if c["mailboxId"] == desk.mailbox2]
    assert get_digest(client, updatedSince=since, mailboxId=desk.mailbox2) == expected(both, 64)


def test_one_bucket_listed(client: ApiClient, stock: list[int]) -> None:
    conversations = listed(client)
    for k in range(3):
        body = get_digest(client, buckets=3, bucket=k)
        assert body.pop("conversations") == [
            {"id": c["id"], "updatedAt": c["updatedAt"], "state": c["state"]}
            for c in conversations
            if c["id"] % 3 == k
        ]
        assert body == expected(conversations, 3)
    assert get_digest(client, buckets=1, bucket=0)["conversations"] == [
        {"id": c["id"], "updatedAt": c["updatedAt"], "state": c["state"]} for c in conversations
    ]


BAD = [
    ({"buckets": "0"}, "buckets"),
    ({"buckets": "4097"}, "buckets"),
    ({"buckets": "-1"}, "buckets"),
    ({"buckets": "many"}, "buckets"),
    ({"buckets": ""}, "buckets"),
    ({"bucket": "-1"}, "bucket"),
    ({"bucket": "4096", "buckets": "4096"}, "bucket"),
    ({"bucket": "first"}, "bucket"),
    ({"bucket": ""}, "bucket"),
    ({"mailboxId": "one"}, "mailboxId"),
    ({"mailboxId": "1,2"}, "mailboxId"),
    ({"mailboxId": ""}, "mailboxId"),
    ({"mailboxId": "99999999999999999999"}, "mailboxId"),
    ({"updatedSince": "yesterday"}, "updatedSince"),
]


@pytest.mark.parametrize(("params", "field"), BAD, ids=lambda v: str(v))
def test_invalid_parameters_are_400(
    client: ApiClient, desk: Desk, params: dict[str, str], field: str
) -> None:
    assert_invalid(client.get(DIGEST, params=params), field)


@pytest.mark.parametrize(("buckets", "bucket"), [(None, 64), (1, 1), (10, 4095)])
def test_a_bucket_that_does_not_exist_is_404(
    client: ApiClient, desk: Desk, buckets: int | None, bucket: int
) -> None:
    params = {"bucket": bucket} | ({} if buckets is None else {"buckets": buckets})
    response = client.get(DIGEST, params=params)
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["_embedded"] == {"errors": []}
    assert f"no bucket {bucket}" in body["message"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PATCH"])
def test_digest_is_not_a_conversation_id(client: ApiClient, desk: Desk, method: str) -> None:
    # Not PUT /api/conversations/{id} with a wrong id (a 400): the path has GET alone.
    response = client.request(method, DIGEST, json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    if method in ("PUT", "DELETE"):
        # Any other word after /conversations/ is still a wrong id.
        assert_invalid(client.request(method, "/api/conversations/digests", json={}))
