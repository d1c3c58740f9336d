"""PUT /api/conversations/{id}/tags and GET /api/tags (reference 1.6)."""

from __future__ import annotations

from typing import Any

from tests.api.support import (
    TAG_KEYS,
    ApiClient,
    Desk,
    assert_invalid,
    assert_not_found,
    assert_page,
    count_rows,
    create_conversation,
    get_conversation,
    list_ids,
    new_conversation,
    put,
)
from tidings.db import schema
from tidings.db.engine import Database


def _tags_of(client: ApiClient, convo_id: int) -> list[str]:
    tags = get_conversation(client, convo_id, embed="tags")["_embedded"]["tags"]
    assert all(set(t) == {"id", "name"} for t in tags)
    return [t["name"] for t in tags]


def _all_tags(client: ApiClient, **params: Any) -> dict[str, int]:
    body = client.get("/api/tags", params=params).json()
    items = body["_embedded"]["tags"]
    assert all(set(t) == TAG_KEYS for t in items)
    assert all(t["color"] == 0 for t in items)
    return {t["name"]: t["counter"] for t in items}


def test_put_tags_replaces_the_set(client: ApiClient, desk: Desk, db: Database) -> None:
    c1 = create_conversation(client, new_conversation(desk.mailbox))["id"]
    c2 = create_conversation(client, new_conversation(desk.mailbox))["id"]
    path = f"/api/conversations/{c1}/tags"

    put(client, path, {"tags": ["VIP", "  Billing   Issue ", "vip", ""]})
    assert _tags_of(client, c1) == ["billing issue", "vip"]
    put(client, f"/api/conversations/{c2}/tags", {"tags": ["vip"]})
    assert _all_tags(client) == {"billing issue": 1, "vip": 2}

    put(client, path, {"tags": ["new", "vip"]})
    assert _tags_of(client, c1) == ["new", "vip"]
    # Tags outlive their last conversation, with a zero counter.
    assert _all_tags(client) == {"billing issue": 0, "new": 1, "vip": 2}

    # The same set again changes nothing and announces nothing.
    events = count_rows(db, schema.events)
    put(client, path, {"tags": ["VIP", "New"]})
    assert count_rows(db, schema.events) == events

    put(client, path, {"tags": []})
    assert _tags_of(client, c1) == []
    assert _tags_of(client, c2) == ["vip"]
    assert _all_tags(client) == {"billing issue": 0, "new": 0, "vip": 1}
    assert list_ids(client, tag="vip") == [c2]

    long_name = "x" * 300
    put(client, path, {"tags": [long_name]})
    assert _tags_of(client, c1) == ["x" * 191]


def test_list_tags_filters_and_pages(client: ApiClient, desk: Desk) -> None:
    c1 = create_conversation(client, new_conversation(desk.mailbox))["id"]
    c2 = create_conversation(client, new_conversation(desk.mailbox))["id"]
    put(client, f"/api/conversations/{c1}/tags", {"tags": ["alpha", "beta", "gamma"]})
    put(client, f"/api/conversations/{c2}/tags", {"tags": ["beta"]})

    body = client.get("/api/tags").json()
    items = assert_page(body, "tags", size=50, total=3)
    assert [(t["name"], t["counter"]) for t in items] == [("alpha", 1), ("beta", 2), ("gamma", 1)]
    assert _all_tags(client, conversationId=c2) == {"beta": 2}
    assert _all_tags(client, conversationId=c1) == {"alpha": 1, "beta": 2, "gamma": 1}
    assert _all_tags(client, conversationId=999) == {}
    paged = client.get("/api/tags", params={"pageSize": 2, "page": 2}).json()
    assert [t["name"] for t in assert_page(paged, "tags", size=2, total=3, number=2)] == ["gamma"]
    assert_invalid(client.get("/api/tags", params={"conversationId": "x"}), "conversationId")


def test_put_tags_errors(client: ApiClient, desk: Desk, counts: Any) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))["id"]
    path = f"/api/conversations/{convo}/tags"
    before = counts()
    assert_invalid(client.put(path, json={}), "tags")
    assert_invalid(client.put(path, json={"tag": ["x"]}), "tags")
    assert_invalid(client.put(path, json={"tags": None}), "tags")
    assert_invalid(client.put(path, json={"tags": "a,b"}), "tags")
    assert_invalid(client.put(path, json={"tags": ["ok", 1]}), "tags")
    assert_invalid(client.put(path, json={"tags": [["nested"]]}), "tags")
    assert_not_found(client.put("/api/conversations/999/tags", json={"tags": ["x"]}))
    assert counts() == before
