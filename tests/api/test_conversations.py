"""/api/conversations: create, get, list with every filter, update, delete (reference 1.6)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from tests.api.support import (
    CONVERSATION_KEYS,
    THREAD_KEYS,
    ApiClient,
    Desk,
    assert_created,
    assert_date,
    assert_invalid,
    assert_no_content,
    assert_not_found,
    assert_page,
    assert_short_customer,
    assert_short_user,
    count_rows,
    create_conversation,
    customer_thread,
    folders,
    get_conversation,
    list_ids,
    new_conversation,
    put,
)
from tidings.db import schema
from tidings.db.engine import Database

UNASSIGNED, MINE, ASSIGNED, CLOSED, DELETED, SPAM = 1, 20, 40, 60, 70, 80


# --- create ----------------------------------------------------------------------------


def test_create_returns_201_resource_id_and_the_full_conversation(
    client: ApiClient, desk: Desk
) -> None:
    body = {
        "type": "email",
        "mailboxId": desk.mailbox,
        "subject": "Where is my parcel?",
        "customer": {"email": "New.Person@Example.com", "firstName": "New", "lastName": "Person"},
        # Newest first, as FreeScout takes them.
        "threads": [
            {
                "type": "message",
                "text": "<p>We shipped it &amp; it is on its way</p>",
                "user": desk.agent,
            },
            {"type": "customer", "text": "Where is it?", "cc": ["boss@example.com"]},
        ],
        "cc": ["a@example.com", "b@example.com"],
        "bcc": "c@example.com, d@example.com",
    }
    response = client.post("/api/conversations", json=body)
    convo = assert_created(response, CONVERSATION_KEYS)

    assert convo["number"] == 1
    assert convo["threadsCount"] == 2
    assert convo["type"] == "email"
    assert convo["status"] == "active"
    assert convo["state"] == "published"
    assert convo["subject"] == "Where is my parcel?"
    assert convo["preview"] == "We shipped it & it is on its way"
    assert convo["mailboxId"] == desk.mailbox
    assert convo["folderId"] == folders(client, desk.mailbox)[(UNASSIGNED, None)]["id"]
    assert convo["assignee"] is None
    assert convo["closedBy"] is None
    assert convo["closedByUser"] is None
    assert convo["closedAt"] is None
    assert convo["source"] == {"type": "api", "via": "customer"}
    assert convo["cc"] == ["a@example.com", "b@example.com"]
    assert convo["bcc"] == ["c@example.com", "d@example.com"]
    for key in ("createdAt", "updatedAt"):
        assert_date(convo[key])
    waiting = convo["customerWaitingSince"]
    assert set(waiting) == {"time", "friendly", "latestReplyFrom"}
    assert_date(waiting["time"])
    assert waiting["latestReplyFrom"] == "user"

    # A new customer was created, with the address lower-cased.
    customer_id = convo["customer"]["id"]
    assert_short_customer(convo["customer"], customer_id, "new.person@example.com")
    assert convo["customer"]["firstName"] == "New"
    assert_short_customer(convo["createdBy"], customer_id)

    # Threads are embedded newest first; nothing else is embedded.
    assert set(convo["_embedded"]) == {"threads"}
    message, first = convo["_embedded"]["threads"]
    for thread in (message, first):
        assert set(thread) == THREAD_KEYS
        assert thread["state"] == "published"
        assert thread["action"] == {"type": "", "text": "", "associatedEntities": []}
        assert thread["_embedded"] == {"attachments": []}
        assert thread["assignedTo"] is None
        assert thread["openedAt"] is None
        assert_date(thread["createdAt"])
    assert first["type"] == "customer"
    assert first["body"] == "Where is it?"
    assert first["source"] == {"type": "api", "via": "customer"}
    assert first["cc"] == ["boss@example.com"]
    assert_short_customer(first["customer"], customer_id)
    assert_short_customer(first["createdBy"], customer_id)
    assert message["type"] == "message"
    assert message["body"] == "<p>We shipped it &amp; it is on its way</p>"
    assert message["source"] == {"type": "api", "via": "user"}
    assert_short_user(message["createdBy"], desk.agent)
    assert message["createdBy"]["email"] == "abe@desk.example"
    assert message["id"] > first["id"]

    # The body is what GET answers.
    assert get_conversation(client, convo["id"]) == convo


def test_numbers_count_per_mailbox(client: ApiClient, desk: Desk) -> None:
    a = create_conversation(client, new_conversation(desk.mailbox))
    b = create_conversation(client, new_conversation(desk.mailbox))
    c = create_conversation(client, new_conversation(desk.mailbox2))
    assert (a["number"], b["number"], c["number"]) == (1, 2, 1)


def test_customer_is_found_by_id_then_email_then_phone(
    client: ApiClient, desk: Desk, db: Database
) -> None:
    phoned = client.post(
        "/api/customers", json={"firstName": "Phil", "phones": [{"value": "+15550001111"}]}
    ).json()["id"]
    before = count_rows(db, schema.customers)
    by_id = create_conversation(client, new_conversation(desk.mailbox, {"id": desk.customer}))
    by_email = create_conversation(
        client, new_conversation(desk.mailbox, {"email": "CLEO@example.com"})
    )
    by_phone = create_conversation(client, new_conversation(desk.mailbox, {"phone": "5550001111"}))
    # A customer sent as a one-element array is unwrapped ("fix for Zapier").
    zapier_body = new_conversation(desk.mailbox, customer=[{"id": desk.customer}])
    zapier = create_conversation(client, zapier_body)
    assert [c["customer"]["id"] for c in (by_id, by_email, zapier)] == [desk.customer] * 3
    assert by_phone["customer"]["id"] == phoned
    assert count_rows(db, schema.customers) == before


def test_create_with_options(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(
        client,
        new_conversation(
            desk.mailbox,
            type="phone",
            status="closed",
            assignTo=desk.agent,
            threads=[{"type": "note", "text": "Called, sorted.", "user": desk.admin}],
        ),
    )
    assert convo["type"] == "phone"
    assert convo["status"] == "closed"
    assert_short_user(convo["assignee"], desk.agent)
    assert convo["closedBy"] == desk.agent
    assert_short_user(convo["closedByUser"], desk.agent)
    assert_date(convo["closedAt"])
    assert convo["folderId"] == folders(client, desk.mailbox)[(CLOSED, None)]["id"]
    assert convo["source"] == {"type": "api", "via": "user"}
    assert_short_user(convo["createdBy"], desk.admin)
    # A note is no reply: nobody is waiting.
    assert convo["customerWaitingSince"]["time"] is None


def test_imported_conversation_keeps_its_dates(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(
        client,
        new_conversation(
            desk.mailbox,
            imported=True,
            status="closed",
            createdAt="2020-01-02T03:04:05Z",
            closedAt="2020-01-03T00:00:00+02:00",
            threads=[
                {
                    "type": "customer",
                    "text": "old",
                    "imported": True,
                    "createdAt": "2020-01-02T03:04:05Z",
                }
            ],
        ),
    )
    assert convo["createdAt"] == "2020-01-02T03:04:05Z"
    assert convo["closedAt"] == "2020-01-02T22:00:00Z"
    assert convo["_embedded"]["threads"][0]["createdAt"] == "2020-01-02T03:04:05Z"
    # Without `imported` the dates are the server's.
    fresh = create_conversation(
        client, new_conversation(desk.mailbox, createdAt="2020-01-02T03:04:05Z")
    )
    assert fresh["createdAt"].startswith("2031-")


def _bad_creates(desk: Desk) -> list[tuple[dict[str, Any], str]]:
    ok = new_conversation(desk.mailbox)
    without = {k: v for k, v in ok.items()}
    thread = customer_thread()
    cases: list[tuple[dict[str, Any], str]] = []
    for key in ("type", "mailboxId", "subject", "customer", "threads"):
        missing = dict(without)
        del missing[key]
        cases.append((missing, key))
    cases += [
        ({**ok, "type": "fax"}, "type"),
        ({**ok, "type": 1}, "type"),
        ({**ok, "type": None}, "type"),
        ({**ok, "mailboxId": "one"}, "mailboxId"),
        ({**ok, "mailboxId": 1.5}, "mailboxId"),
        ({**ok, "mailboxId": True}, "mailboxId"),
        ({**ok, "mailboxId": 999}, "mailboxId"),
        ({**ok, "subject": ""}, "subject"),
        ({**ok, "subject": 42}, "subject"),
        ({**ok, "subject": "s" * 999}, "subject"),
        ({**ok, "customer": "cleo@example.com"}, "customer"),
        ({**ok, "customer": {}}, "customer"),
        ({**ok, "customer": {"id": 999}}, "customer.id"),
        ({**ok, "customer": {"id": "x"}}, "customer.id"),
        ({**ok, "customer": {"email": 5}}, "customer.email"),
        ({**ok, "customer": {"email": "not-an-email"}}, "customer.email"),
        ({**ok, "customer": {"email": "n@example.com", "firstName": 5}}, "customer.firstName"),
        (
            {**ok, "customer": {"email": "n@example.com", "phones": [{}]}},
            "customer.phones[0].value",
        ),
        ({**ok, "threads": "hello"}, "threads"),
        ({**ok, "threads": []}, "threads"),
        ({**ok, "threads": {"type": "customer", "text": "x"}}, "threads"),
        ({**ok, "threads": ["hello"]}, "threads[0]"),
        ({**ok, "threads": [thread, {"text": "x"}]}, "threads[1].type"),
        ({**ok, "threads": [{"type": "lineitem", "text": "x"}]}, "threads[0].type"),
        ({**ok, "threads": [{"type": "customer"}]}, "threads[0].text"),
        ({**ok, "threads": [{"type": "customer", "text": ""}]}, "threads[0].text"),
        ({**ok, "threads": [{"type": "customer", "text": 5}]}, "threads[0].text"),
        ({**ok, "threads": [{"type": "message", "text": "x"}]}, "threads[0].user"),
        ({**ok, "threads": [{"type": "note", "text": "x", "user": 999}]}, "threads[0].user"),
        ({**ok, "threads": [{"type": "note", "text": "x", "user": "me"}]}, "threads[0].user"),
        ({**ok, "threads": [{**thread, "status": "open"}]}, "threads[0].status"),
        ({**ok, "threads": [{**thread, "state": "hidden"}]}, "threads[0].state"),
        ({**ok, "threads": [{**thread, "cc": 5}]}, "threads[0].cc"),
        ({**ok, "threads": [{**thread, "attachments": "x"}]}, "threads[0].attachments"),
        (
            {**ok, "threads": [{**thread, "customer": {"id": 999}}]},
            "threads[0].customer.id",
        ),
        ({**ok, "status": "open"}, "status"),
        ({**ok, "status": "nochange"}, "status"),
        ({**ok, "state": "archived"}, "state"),
        ({**ok, "assignTo": 999}, "assignTo"),
        ({**ok, "assignTo": "someone"}, "assignTo"),
        ({**ok, "imported": "maybe"}, "imported"),
        ({**ok, "imported": True, "createdAt": "yesterday"}, "createdAt"),
        ({**ok, "cc": [1, 2]}, "cc"),
        ({**ok, "bcc": {"a": 1}}, "bcc"),
    ]
    return cases


def test_create_refuses_invalid_input_and_leaves_nothing_behind(
    client: ApiClient, desk: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    before = counts()
    for body, path in _bad_creates(desk):
        with subtests.test(path=path, body=body):
            assert_invalid(client.post("/api/conversations", json=body), path)
    assert counts() == before
    # No number was used up by the failures.
    assert create_conversation(client, new_conversation(desk.mailbox))["number"] == 1


def test_failed_create_rolls_back_the_new_customer_and_events(
    client: ApiClient, desk: Desk, db: Database, counts: Any
) -> None:
    before = counts()
    body = new_conversation(
        desk.mailbox,
        {"email": "brand.new@example.com", "firstName": "Brand"},
        threads=[
            {"type": "note", "text": "bad user", "user": 999},
            {"type": "customer", "text": "valid"},
        ],
    )
    assert_invalid(client.post("/api/conversations", json=body), "threads[0].user")
    body["threads"] = [
        {"type": "customer", "text": "valid"},
        {
            "type": "customer",
            "text": "bad file",
            "attachments": [{"fileName": "a", "mimeType": "text/plain", "data": "###"}],
        },
    ]
    assert_invalid(client.post("/api/conversations", json=body), "threads[1].attachments[0].data")
    after = counts()
    assert after == before
    for table in ("customers", "customer_emails", "conversations", "threads", "events"):
        assert after[table] == before[table], table
    with db.read() as conn:
        assert (
            conn.execute(
                select(schema.customer_emails).where(
                    schema.customer_emails.c.email == "brand.new@example.com"
                )
            ).first()
            is None
        )


# --- get -------------------------------------------------------------------------------


def test_get_embeds(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    put(client, f"/api/conversations/{convo['id']}/tags", {"tags": ["vip"]})
    path = f"/api/conversations/{convo['id']}"

    def embedded(**params: Any) -> Any:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert set(response.json()) == CONVERSATION_KEYS
        return response.json()["_embedded"]

    # No embed: threads are included (and tags are not).
    assert set(embedded()) == {"threads"}
    assert set(embedded(embed="")) == {"threads"}
    assert embedded(embed="tags") == {"tags": [{"id": 1, "name": "vip"}]}
    both = embedded(embed="threads,tags")
    assert set(both) == {"threads", "tags"}
    assert len(both["threads"]) == 1
    assert embedded(embed="timelogs") == {}
    assert_invalid(client.get(path, params={"embed": "threads,customers"}), "embed")


def test_get_unknown_or_malformed_id(client: ApiClient, desk: Desk) -> None:
    assert_not_found(client.get("/api/conversations/1"))
    assert_not_found(client.get("/api/conversations/0"))
    assert_not_found(client.get("/api/conversations/-3"))
    assert_invalid(client.get("/api/conversations/abc"))
    assert_invalid(client.get("/api/conversations/1.5"))


# --- list ------------------------------------------------------------------------------


@pytest.fixture
def stock(client: ApiClient, desk: Desk) -> dict[str, dict[str, Any]]:
    """Five conversations, created in this order (one second apart):

    c1  mailbox 1  email  active   unassigned  Cleo (by id)      "Parcel lost"   tag vip
    c2  mailbox 1  phone  pending  agent       new, phoned       "Refund please" by admin
    c3  mailbox 2  chat   closed   unassigned  Cleo (by email)   "Invoice copy"
    c4  mailbox 1  email  spam     unassigned  spammer           "WIN A PRIZE"
    c5  mailbox 2  email  active   unassigned  Cleo              "Old news"      deleted
    """
    made = {
        "c1": create_conversation(
            client,
            new_conversation(desk.mailbox, {"id": desk.customer}, subject="Parcel lost"),
        ),
        "c2": create_conversation(
            client,
            new_conversation(
                desk.mailbox,
                {"email": "ray@example.com", "phone": "+1 555 000 2222"},
                type="phone",
                status="pending",
                assignTo=desk.agent,
                subject="Refund please",
                threads=[{"type": "message", "text": "Refund sent", "user": desk.admin}],
            ),
        ),
        "c3": create_conversation(
            client,
            new_conversation(
                desk.mailbox2,
                {"email": desk.customer_email},
                type="chat",
                status="closed",
                subject="Invoice copy",
            ),
        ),
        "c4": create_conversation(
            client,
            new_conversation(
                desk.mailbox, {"email": "spam@example.net"}, status="spam", subject="WIN A PRIZE"
            ),
        ),
        "c5": create_conversation(
            client, new_conversation(desk.mailbox2, {"id": desk.customer}, subject="Old news")
        ),
    }
    put(client, f"/api/conversations/{made['c1']['id']}/tags", {"tags": ["VIP"]})
    put(
        client,
        f"/api/conversations/{made['c5']['id']}",
        {"state": "deleted", "byUser": desk.admin},
    )
    return {name: get_conversation(client, c["id"]) for name, c in made.items()}


def _names(stock: dict[str, dict[str, Any]], ids: list[int]) -> list[str]:
    by_id = {c["id"]: name for name, c in stock.items()}
    return [by_id[i] for i in ids]


def test_list_shape_and_default_order(
    client: ApiClient, desk: Desk, stock: dict[str, dict[str, Any]]
) -> None:
    body = client.get("/api/conversations").json()
    items = assert_page(body, "conversations", size=50, total=4)
    # Newest first, trashed conversations left out, threads not embedded.
    assert _names(stock, [c["id"] for c in items]) == ["c4", "c3", "c2", "c1"]
    for item in items:
        assert set(item) == CONVERSATION_KEYS
        assert item["_embedded"] == {}
    # The list item is the conversation without its threads.
    c1 = {**stock["c1"], "_embedded": {}}
    assert items[-1] == c1


def test_list_embeds_threads_and_tags(
    client: ApiClient, desk: Desk, stock: dict[str, dict[str, Any]]
) -> None:
    items = client.get(
        "/api/conversations", params={"embed": "threads,tags", "mailboxId": desk.mailbox}
    ).json()["_embedded"]["conversations"]
    by_name = dict(zip(_names(stock, [c["id"] for c in items]), items, strict=True))
    assert by_name["c1"]["_embedded"]["tags"] == [{"id": 1, "name": "vip"}]
    assert by_name["c2"]["_embedded"]["tags"] == []
    assert by_name["c1"]["_embedded"]["threads"] == stock["c1"]["_embedded"]["threads"]
    only_tags = client.get("/api/conversations", params={"embed": "tags"}).json()
    assert all(set(c["_embedded"]) == {"tags"} for c in only_tags["_embedded"]["conversations"])
    assert_invalid(client.get("/api/conversations", params={"embed": "nope"}), "embed")


def test_list_filters(
    client: ApiClient, desk: Desk, stock: dict[str, dict[str, Any]], subtests: pytest.Subtests
) -> None:
    m1, m2 = desk.mailbox, desk.mailbox2
    unassigned_m1 = folders(client, m1)[(UNASSIGNED, None)]["id"]
    spam_m1 = folders(client, m1)[(SPAM, None)]["id"]
    deleted_m2 = folders(client, m2)[(DELETED, None)]["id"]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"mailboxId": m1}, ["c4", "c2", "c1"]),
        ({"mailboxId": m2}, ["c3"]),
        ({"mailboxId": f"{m1},{m2}"}, ["c4", "c3", "c2", "c1"]),
        ({"mailboxId": 999}, []),
        ({"folderId": unassigned_m1}, ["c1"]),
        ({"folderId": spam_m1}, ["c4"]),
        ({"folderId": deleted_m2, "state": "deleted"}, ["c5"]),
        ({"status": "active"}, ["c1"]),
        ({"status": "pending,closed"}, ["c3", "c2"]),
        ({"status": "SPAM"}, ["c4"]),
        ({"status": ""}, ["c4", "c3", "c2", "c1"]),
        ({"state": "published"}, ["c4", "c3", "c2", "c1"]),
        ({"state": "deleted"}, ["c5"]),
        ({"state": "draft"}, []),
        ({"state": "all"}, ["c5", "c4", "c3", "c2", "c1"]),
        ({"state": "deleted", "status": "active"}, ["c5"]),
        ({"type": "email"}, ["c4", "c1"]),
        ({"type": "phone"}, ["c2"]),
        ({"type": "chat"}, ["c3"]),
        ({"assignedTo": desk.agent}, ["c2"]),
        ({"assignedTo": desk.admin}, []),
        ({"assignedTo": ""}, ["c4", "c3", "c1"]),
        ({"assignedTo": "0"}, ["c4", "c3", "c1"]),
        ({"customerEmail": desk.customer_email}, ["c3", "c1"]),
        ({"customerEmail": "CLEO@Example.com"}, ["c3", "c1"]),
        ({"customerEmail": "nobody@example.com"}, []),
        ({"customerPhone": "555 000 2222"}, ["c2"]),
        ({"customerPhone": "000 2222"}, ["c2"]),
        ({"customerPhone": "9999"}, []),
        ({"customerId": desk.customer}, ["c3", "c1"]),
        ({"customerId": desk.customer, "state": "all"}, ["c5", "c3", "c1"]),
        ({"number": 1}, ["c3", "c1"]),
        ({"number": 1, "mailboxId": m2}, ["c3"]),
        ({"number": 3}, ["c4"]),
        ({"subject": "parcel"}, ["c1"]),
        ({"subject": "o"}, ["c3", "c1"]),
        ({"subject": "E"}, ["c4", "c3", "c2", "c1"]),
        ({"subject": "win a"}, ["c4"]),
        ({"tag": "vip"}, ["c1"]),
        ({"tag": "  VIP "}, ["c1"]),
        ({"tag": "unknown"}, []),
        ({"createdByUserId": desk.admin}, ["c2"]),
        ({"createdByUserId": desk.agent}, []),
        ({"createdByCustomerId": desk.customer}, ["c3", "c1"]),
        ({"createdSince": stock["c3"]["createdAt"]}, ["c4", "c3"]),
        ({"createdSince": "2031-03-04T10:00:00+05:00"}, ["c4", "c3", "c2", "c1"]),
        ({"createdSince": "2099-01-01T00:00:00Z"}, []),
        # Years before 1000 compare as dates, not as text ("999-" > "2031-" as text).
        ({"createdSince": "0999-01-01T00:00:00Z"}, ["c4", "c3", "c2", "c1"]),
        ({"updatedSince": "0001-01-01T00:00:00Z"}, ["c4", "c3", "c2", "c1"]),
        ({"updatedSince": stock["c3"]["updatedAt"]}, ["c4", "c3"]),
        ({"mailboxId": m1, "status": "active,spam", "type": "email"}, ["c4", "c1"]),
    ]
    for params, expected in cases:
        with subtests.test(**params):
            assert _names(stock, list_ids(client, **params)) == expected


def test_list_filter_errors(client: ApiClient, desk: Desk, subtests: pytest.Subtests) -> None:
    cases = [
        ({"mailboxId": "one"}, "mailboxId"),
        ({"mailboxId": "1,x"}, "mailboxId"),
        ({"folderId": "x"}, "folderId"),
        ({"status": "open"}, "status"),
        ({"status": "active,nochange"}, "status"),
        ({"state": "trashed"}, "state"),
        ({"state": "published,deleted"}, "state"),
        ({"type": "fax"}, "type"),
        ({"type": "email,phone"}, "type"),
        ({"assignedTo": "someone"}, "assignedTo"),
        ({"assignedTo": ","}, "assignedTo"),
        ({"assignedTo": "1,2"}, "assignedTo"),
        ({"customerId": "x"}, "customerId"),
        ({"number": "x"}, "number"),
        ({"createdByUserId": "x"}, "createdByUserId"),
        ({"createdByCustomerId": "x"}, "createdByCustomerId"),
        ({"createdSince": "yesterday"}, "createdSince"),
        ({"createdSince": "0001-01-01T00:00:00+01:00"}, "createdSince"),
        ({"updatedSince": "2024-13-01"}, "updatedSince"),
        ({"sortField": "customer"}, "sortField"),
        ({"sortOrder": "up"}, "sortOrder"),
    ]
    for params, path in cases:
        with subtests.test(**params):
            assert_invalid(client.get("/api/conversations", params=params), path)


def test_list_sorting(
    client: ApiClient, desk: Desk, stock: dict[str, dict[str, Any]], subtests: pytest.Subtests
) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["c4", "c3", "c2", "c1"]),
        ({"sortField": "createdAt"}, ["c4", "c3", "c2", "c1"]),
        ({"sortField": "createdAt", "sortOrder": "asc"}, ["c1", "c2", "c3", "c4"]),
        ({"sortOrder": "ASC"}, ["c1", "c2", "c3", "c4"]),
        ({"sortField": "subject", "sortOrder": "asc"}, ["c3", "c1", "c2", "c4"]),
        ({"sortField": "subject"}, ["c4", "c2", "c1", "c3"]),
        ({"sortField": "number", "sortOrder": "asc"}, ["c1", "c3", "c2", "c4"]),
        ({"sortField": "mailboxId", "sortOrder": "asc"}, ["c1", "c2", "c4", "c3"]),
        ({"sortField": "mailboxId"}, ["c3", "c4", "c2", "c1"]),
        ({"sortField": "updatedAt"}, ["c4", "c3", "c2", "c1"]),
        ({"sortField": "updatedAt", "sortOrder": "asc"}, ["c1", "c2", "c3", "c4"]),
        ({"sortField": "waitingSince", "sortOrder": "asc"}, ["c1", "c2", "c3", "c4"]),
    ]
    for params, expected in cases:
        with subtests.test(**params):
            assert _names(stock, list_ids(client, **params)) == expected


def test_list_pagination(client: ApiClient, desk: Desk, stock: dict[str, dict[str, Any]]) -> None:
    first = client.get("/api/conversations", params={"pageSize": 3}).json()
    second = client.get("/api/conversations", params={"pageSize": 3, "page": 2}).json()
    third = client.get("/api/conversations", params={"pageSize": 3, "page": 3}).json()
    ids = [c["id"] for c in assert_page(first, "conversations", size=3, total=4)]
    ids += [c["id"] for c in assert_page(second, "conversations", size=3, total=4, number=2)]
    assert assert_page(third, "conversations", size=3, total=4, number=3) == []
    assert _names(stock, ids) == ["c4", "c3", "c2", "c1"]
    one = client.get("/api/conversations", params={"pageSize": 1, "status": "closed"}).json()
    assert len(assert_page(one, "conversations", size=1, total=1)) == 1


# --- update ----------------------------------------------------------------------------


def _line_items(convo: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (t["action"]["type"], t["action"]["text"])
        for t in convo["_embedded"]["threads"]
        if t["type"] == "lineitem"
    ]


def test_update_round_trip(client: ApiClient, desk: Desk, db: Database) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    path = f"/api/conversations/{convo['id']}"
    other = client.post("/api/customers", json={"email": "other@example.com"}).json()["id"]
    folders1, folders2 = folders(client, desk.mailbox), folders(client, desk.mailbox2)

    put(client, path, {"status": "closed", "byUser": desk.admin})
    got = get_conversation(client, convo["id"])
    assert got["status"] == "closed"
    assert got["closedBy"] == desk.admin
    assert_short_user(got["closedByUser"], desk.admin)
    assert_date(got["closedAt"])
    assert got["folderId"] == folders1[(CLOSED, None)]["id"]
    assert got["updatedAt"] > convo["updatedAt"]
    assert got["userUpdatedAt"] == got["updatedAt"]
    assert _line_items(got) == [("changed-ticket-status", "Ada Admin changed the status to Closed")]

    put(client, path, {"byUser": desk.admin, "status": "active", "assignTo": desk.agent})
    got = get_conversation(client, convo["id"])
    assert got["status"] == "active"
    assert got["closedBy"] is None
    assert got["closedAt"] is None
    assert_short_user(got["assignee"], desk.agent)
    assert got["folderId"] == folders1[(ASSIGNED, None)]["id"]
    assert _line_items(got)[0] == ("changed-ticket-assignee", "Ada Admin assigned to Abe Agent")

    put(client, path, {"mailboxId": desk.mailbox2, "byUser": desk.agent})
    got = get_conversation(client, convo["id"])
    assert got["mailboxId"] == desk.mailbox2
    assert got["folderId"] == folders2[(ASSIGNED, None)]["id"]
    moved = next(t for t in got["_embedded"]["threads"] if t["type"] == "lineitem")
    assert moved["action"]["type"] == "moved-from-mailbox"
    assert moved["action"]["associatedEntities"] == [{"type": "mailbox", "id": desk.mailbox}]

    # customerId and subject need no byUser.
    put(client, path, {"customerId": other, "subject": "Renamed"})
    got = get_conversation(client, convo["id"])
    assert_short_customer(got["customer"], other, "other@example.com")
    assert got["subject"] == "Renamed"

    put(client, path, {"assignTo": None, "byUser": desk.admin})
    got = get_conversation(client, convo["id"])
    assert got["assignee"] is None
    assert got["folderId"] == folders2[(UNASSIGNED, None)]["id"]

    put(client, path, {"state": "deleted", "byUser": desk.admin})
    got = get_conversation(client, convo["id"])
    assert got["state"] == "deleted"
    assert got["folderId"] == folders2[(DELETED, None)]["id"]
    assert _line_items(got)[0] == ("deleted-ticket", "Ada Admin deleted the conversation")
    assert list_ids(client) == []
    assert list_ids(client, state="deleted") == [convo["id"]]

    put(client, path, {"state": "published", "byUser": desk.admin})
    got = get_conversation(client, convo["id"])
    assert got["state"] == "published"
    assert got["folderId"] == folders2[(UNASSIGNED, None)]["id"]
    assert _line_items(got)[0] == ("restore-ticket", "Ada Admin restored the conversation")
    assert list_ids(client) == [convo["id"]]

    # Setting what is already there changes nothing, not even updatedAt.
    events = count_rows(db, schema.events)
    put(client, path, {"status": "active", "subject": "Renamed", "byUser": desk.admin})
    assert get_conversation(client, convo["id"])["updatedAt"] == got["updatedAt"]
    assert count_rows(db, schema.events) == events

    put(client, path, {})
    put(client, path, {"api_key": "ignored-here", "unknownField": 1})


def test_update_errors_change_nothing(
    client: ApiClient, desk: Desk, db: Database, counts: Any, subtests: pytest.Subtests
) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    path = f"/api/conversations/{convo['id']}"
    by = {"byUser": desk.admin}
    before = counts()
    cases = [
        ({"status": "closed"}, "byUser"),
        ({"assignTo": desk.agent}, "byUser"),
        ({"mailboxId": desk.mailbox2}, "byUser"),
        ({"state": "deleted"}, "byUser"),
        ({"status": "closed", "byUser": 999}, "byUser"),
        ({"status": "closed", "byUser": "me"}, "byUser"),
        ({**by, "status": "open"}, "status"),
        ({**by, "status": "nochange"}, "status"),
        ({**by, "status": None}, "status"),
        ({**by, "assignTo": 999}, "assignTo"),
        ({**by, "assignTo": "x"}, "assignTo"),
        ({**by, "mailboxId": 999}, "mailboxId"),
        ({**by, "mailboxId": None}, "mailboxId"),
        ({"customerId": 999}, "customerId"),
        ({"customerId": "x"}, "customerId"),
        ({"subject": ""}, "subject"),
        ({"subject": 5}, "subject"),
        ({"subject": "s" * 999}, "subject"),
        ({**by, "state": "draft"}, "state"),
        ({**by, "state": "gone"}, "state"),
        # Applied in order, in one transaction: the close is undone with the bad subject.
        ({**by, "status": "closed", "assignTo": desk.agent, "subject": ""}, "subject"),
    ]
    for body, error_path in cases:
        with subtests.test(path=error_path, body=body):
            assert_invalid(client.put(path, json=body), error_path)
    assert counts() == before
    got = get_conversation(client, convo["id"])
    assert got == convo
    message = assert_invalid(client.put(path, json={"status": "closed"}), "byUser")[0]
    assert message["message"] == "byUser parameter is required."


def test_update_unknown_conversation_is_404(client: ApiClient, desk: Desk) -> None:
    assert_not_found(client.put("/api/conversations/42", json={"subject": "x"}))
    assert_not_found(
        client.put("/api/conversations/42", json={"status": "closed", "byUser": desk.admin})
    )


# --- delete ----------------------------------------------------------------------------


def test_delete_deletes_forever(client: ApiClient, desk: Desk, db: Database) -> None:
    keep = create_conversation(client, new_conversation(desk.mailbox))
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [
        {"fileName": "a.txt", "mimeType": "text/plain", "data": "YQ=="}
    ]
    convo = create_conversation(client, body)
    put(client, f"/api/conversations/{convo['id']}/tags", {"tags": ["x"]})
    with db.write() as conn:  # rows no endpoint creates: a follower, a folder link
        conn.execute(
            insert(schema.followers).values(conversation_id=convo["id"], user_id=desk.admin)
        )
        starred = conn.execute(
            select(schema.folders.c.id).where(schema.folders.c.mailbox_id == desk.mailbox).limit(1)
        ).scalar_one()
        conn.execute(
            insert(schema.conversation_folder).values(
                conversation_id=convo["id"], folder_id=starred
            )
        )
    assert_no_content(client.delete(f"/api/conversations/{convo['id']}"))
    assert_not_found(client.get(f"/api/conversations/{convo['id']}"))
    assert_not_found(client.delete(f"/api/conversations/{convo['id']}"))
    assert_not_found(client.put(f"/api/conversations/{convo['id']}", json={"subject": "x"}))
    assert list_ids(client, state="all") == [keep["id"]]
    for table, column in (
        (schema.threads, schema.threads.c.conversation_id),
        (schema.attachments, schema.attachments.c.conversation_id),
        (schema.conversation_tag, schema.conversation_tag.c.conversation_id),
        (schema.followers, schema.followers.c.conversation_id),
        (schema.conversation_folder, schema.conversation_folder.c.conversation_id),
        (schema.conversations, schema.conversations.c.id),
    ):
        assert count_rows(db, table, column == convo["id"]) == 0
    assert count_rows(db, schema.threads, schema.threads.c.conversation_id == keep["id"]) == 1
    # Deleting forever also works on a trashed conversation.
    put(client, f"/api/conversations/{keep['id']}", {"state": "deleted", "byUser": desk.admin})
    assert_no_content(client.delete(f"/api/conversations/{keep['id']}"))
    assert list_ids(client, state="all") == []


# --- merge (Tidings extension) and module endpoints ---------------------------------------


def test_merge(client: ApiClient, desk: Desk) -> None:
    target = create_conversation(client, new_conversation(desk.mailbox))
    source = create_conversation(
        client,
        new_conversation(desk.mailbox, threads=[customer_thread("one"), customer_thread("two")]),
    )
    path = f"/api/conversations/{target['id']}/merge"
    assert_invalid(client.post(path, json={"conversationId": source["id"]}), "byUser")
    assert_invalid(client.post(path, json={"byUser": desk.admin}), "conversationId")
    assert_invalid(
        client.post(path, json={"conversationId": target["id"], "byUser": desk.admin}),
        "conversationId",
    )
    assert_invalid(
        client.post(path, json={"conversationId": 999, "byUser": desk.admin}), "conversationId"
    )
    assert_not_found(
        client.post(
            "/api/conversations/999/merge",
            json={"conversationId": source["id"], "byUser": desk.admin},
        )
    )
    assert_no_content(
        client.post(path, json={"conversationId": source["id"], "byUser": desk.admin})
    )
    merged = get_conversation(client, target["id"])
    assert merged["threadsCount"] == 3
    bodies = [t["body"] for t in merged["_embedded"]["threads"] if t["type"] == "customer"]
    assert sorted(bodies) == sorted(["one", "two", "Hello, my parcel is late"])
    assert _line_items(merged)[0][0] == "merged"
    gone = get_conversation(client, source["id"])
    assert gone["state"] == "deleted"
    assert gone["threadsCount"] == 0


def test_module_endpoints_answer_module_not_installed(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    for method, path, message in (
        (
            "PUT",
            f"/api/conversations/{convo['id']}/custom_fields",
            "Custom Fields module is not installed or not activated",
        ),
        (
            "GET",
            f"/api/conversations/{convo['id']}/timelogs",
            "Time Tracking module is not installed or not activated",
        ),
    ):
        response = client.request(method, path, json={"customFields": []})
        assert response.status_code == 400
        assert response.json() == {"message": message, "_embedded": {"errors": []}}
