"""Every 400 says what is wrong where: one table per kind of input, each row a request and
the exact error it must answer (``path``, ``message``, ``source``).

- A value of the wrong type says what it must be; FreeScout's "parameter is required" is
  kept for a value that is missing or empty.
- A nested field is named by its full path in the body (``customer.email``,
  ``threads[0].text``, ``params.status``); the body of ``POST .../threads`` is the thread,
  so its fields are named as FreeScout names them (``text``).
- Body fields have ``source: "JSON"``, query parameters ``"query"``, the id in the URL
  ``"path"``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import (
    ApiClient,
    Desk,
    assert_invalid,
    create_conversation,
    customer_thread,
    new_conversation,
)

# (method, url, JSON body, expected path, expected message): body fields, source "JSON".
BodyCase = tuple[str, str, dict[str, Any], str, str]
# (method, url, expected path, expected message, expected source).
QueryCase = tuple[str, str, str, str, str]

CONVERSATION = new_conversation(1)
THREAD = customer_thread()
NOTE = {"type": "note", "text": "x", "user": 1}
FILE = {"fileName": "a.txt", "mimeType": "text/plain", "data": "YQ=="}
SINCE = "2030-01-01T00:00:00Z"
CONVERSATION_STATUSES = "active, pending, closed, spam"


def _convo(**changes: Any) -> dict[str, Any]:
    return {**CONVERSATION, **changes}


def _threads(*threads: dict[str, Any]) -> dict[str, Any]:
    return _convo(threads=list(threads))


CREATE_CONVERSATION: list[BodyCase] = [
    ("POST", "/api/conversations", _convo(threads="nope"),
     "threads", "`threads` must be a list of thread objects"),
    ("POST", "/api/conversations", _convo(threads={"type": "customer"}),
     "threads", "`threads` must be a list of thread objects"),
    ("POST", "/api/conversations", _convo(threads=[]),
     "threads", "`threads` parameter is required"),
    ("POST", "/api/conversations", {k: v for k, v in CONVERSATION.items() if k != "subject"},
     "subject", "`subject` parameter is required"),
    ("POST", "/api/conversations", _convo(subject=5), "subject", "`subject` must be a string"),
    ("POST", "/api/conversations", _convo(mailboxId="one"),
     "mailboxId", "`mailboxId` must be an integer"),
    ("POST", "/api/conversations", _convo(type="fax"),
     "type", "`type` must be one of: email, phone, chat, custom"),
    ("POST", "/api/conversations", _convo(status="open"),
     "status", f"`status` must be one of: {CONVERSATION_STATUSES}"),
    ("POST", "/api/conversations", _convo(assignTo="me"),
     "assignTo", "`assignTo` must be an integer"),
    ("POST", "/api/conversations", _convo(imported="yes"),
     "imported", "`imported` must be a boolean"),
    ("POST", "/api/conversations", _convo(imported=True, createdAt="soon"),
     "createdAt", "`createdAt` must be an ISO 8601 date"),
    ("POST", "/api/conversations", _convo(cc=5), "cc", "`cc` must be a list of strings"),
    ("POST", "/api/conversations", _convo(customer="cleo"),
     "customer", "`customer` must be an object"),
    ("POST", "/api/conversations", _convo(customer={}),
     "customer", "`customer` needs an `id`, `email` or `phone`"),
    ("POST", "/api/conversations", _convo(customer={"id": "x"}),
     "customer.id", "`customer.id` must be an integer"),
    ("POST", "/api/conversations", _convo(customer={"id": 999}),
     "customer.id", "Customer 999 not found"),
    ("POST", "/api/conversations", _convo(customer={"email": 5}),
     "customer.email", "`customer.email` must be a string"),
    ("POST", "/api/conversations", _convo(customer={"email": "not-an-email"}),
     "customer.email", "`customer.email` must be an email address"),
    ("POST", "/api/conversations", _convo(customer={"email": "n@example.com", "firstName": 5}),
     "customer.firstName", "`customer.firstName` must be a string"),
    ("POST", "/api/conversations", _convo(customer={"phone": "1", "emails": [{"value": 5}]}),
     "customer.emails[0].value", "`customer.emails[0].value` must be a string"),
    ("POST", "/api/conversations", _threads("hello"),
     "threads[0]", "`threads[0]` must be an object"),
    ("POST", "/api/conversations", _threads(THREAD, {"text": "x"}),
     "threads[1].type", "`threads[1].type` parameter is required"),
    ("POST", "/api/conversations", _threads({"type": "customer"}),
     "threads[0].text", "`threads[0].text` parameter is required"),
    ("POST", "/api/conversations", _threads({"type": "customer", "text": 5}),
     "threads[0].text", "`threads[0].text` must be a string"),
    ("POST", "/api/conversations", _threads({"type": "note", "text": "x"}),
     "threads[0].user", "`threads[0].user` parameter is required"),
    ("POST", "/api/conversations", _threads({"type": "note", "text": "x", "user": "me"}),
     "threads[0].user", "`threads[0].user` must be an integer"),
    ("POST", "/api/conversations", _threads({**THREAD, "customer": {"email": 5}}),
     "threads[0].customer.email", "`threads[0].customer.email` must be a string"),
    ("POST", "/api/conversations", _threads({**THREAD, "imported": True, "createdAt": 1}),
     "threads[0].createdAt", "`threads[0].createdAt` must be an ISO 8601 date"),
    ("POST", "/api/conversations", _threads({**THREAD, "attachments": "x"}),
     "threads[0].attachments", "`threads[0].attachments` must be a list of attachment objects"),
    ("POST", "/api/conversations",
     _threads({**THREAD, "attachments": [FILE, {**FILE, "fileName": 5}]}),
     "threads[0].attachments[1].fileName",
     "`threads[0].attachments[1].fileName` must be a string"),
    ("POST", "/api/conversations", _threads({**THREAD, "attachments": [{**FILE, "data": "###"}]}),
     "threads[0].attachments[0].data", "`threads[0].attachments[0].data` must be valid base64"),
]  # fmt: skip

CHANGE_CONVERSATION: list[BodyCase] = [
    ("PUT", "/api/conversations/1", {"status": "closed"},
     "byUser", "byUser parameter is required."),
    ("PUT", "/api/conversations/1", {"status": "closed", "byUser": "x"},
     "byUser", "`byUser` must be an integer"),
    ("PUT", "/api/conversations/1", {"status": 3, "byUser": 1},
     "status", f"`status` must be one of: {CONVERSATION_STATUSES}"),
    ("PUT", "/api/conversations/1", {"subject": 5}, "subject", "`subject` must be a string"),
    ("PUT", "/api/conversations/1", {"customerId": "x"},
     "customerId", "`customerId` must be an integer"),
    ("PUT", "/api/conversations/1", {"state": "draft", "byUser": 1},
     "state", "`state` must be one of: published, deleted"),
    ("POST", "/api/conversations/1/threads", {}, "type", "`type` parameter is required"),
    ("POST", "/api/conversations/1/threads", {"type": "note", "user": 1},
     "text", "`text` parameter is required"),
    ("POST", "/api/conversations/1/threads", {**NOTE, "text": ["x"]},
     "text", "`text` must be a string"),
    ("POST", "/api/conversations/1/threads", {**NOTE, "user": "me"},
     "user", "`user` must be an integer"),
    ("POST", "/api/conversations/1/threads", {**NOTE, "user": 999}, "user", "User 999 not found"),
    ("POST", "/api/conversations/1/threads", {**THREAD, "customer": {"email": 5}},
     "customer.email", "`customer.email` must be a string"),
    ("POST", "/api/conversations/1/threads", {**NOTE, "state": "hidden"},
     "state", "`state` must be one of: draft, published"),
    ("POST", "/api/conversations/1/threads",
     {**NOTE, "attachments": [{**FILE, "mimeType": "text"}]},
     "attachments[0].mimeType", "`attachments[0].mimeType` must be a media type"),
    ("POST", "/api/conversations/1/threads",
     {**NOTE, "attachments": [{**FILE, "fileName": ""}]},
     "attachments[0].fileName", "`attachments[0].fileName` parameter is required"),
    ("PUT", "/api/conversations/1/tags", {}, "tags", "`tags` parameter is required"),
    ("PUT", "/api/conversations/1/tags", {"tags": "vip"},
     "tags", "`tags` must be a list of tag names"),
    ("POST", "/api/conversations/1/merge", {"byUser": 1},
     "conversationId", "`conversationId` parameter is required"),
    ("POST", "/api/conversations/1/merge", {"conversationId": "x", "byUser": 1},
     "conversationId", "`conversationId` must be an integer"),
]  # fmt: skip

PEOPLE_AND_MAILBOXES: list[BodyCase] = [
    ("POST", "/api/customers", {}, "firstName", "`firstName` or `email` is required"),
    ("POST", "/api/customers", {"firstName": 5}, "firstName", "`firstName` must be a string"),
    ("POST", "/api/customers", {"emails": "a@example.com"},
     "emails", "`emails` must be a list of email addresses"),
    ("POST", "/api/customers", {"emails": [5]},
     "emails[0]", "`emails[0]` must be an email address or an object with a `value`"),
    ("POST", "/api/customers", {"emails": ["nope"]},
     "emails[0]", "`emails[0]` must be an email address"),
    ("POST", "/api/customers", {"emails": [{"value": "nope"}]},
     "emails[0].value", "`emails[0].value` must be an email address"),
    ("POST", "/api/customers", {"emails": [{"type": "work"}]},
     "emails[0].value", "`emails[0].value` parameter is required"),
    ("POST", "/api/customers", {"emails": [{"value": "a@example.com", "type": "office"}]},
     "emails[0].type", "`emails[0].type` must be one of: work, home, other"),
    ("POST", "/api/customers", {"firstName": "A", "phones": "555"},
     "phones", "`phones` must be a list of objects with a `value`"),
    ("POST", "/api/customers", {"firstName": "A", "phones": [{"value": 555}]},
     "phones[0].value", "`phones[0].value` must be a string"),
    ("POST", "/api/customers", {"firstName": "A", "socialProfiles": [{}]},
     "socialProfiles[0].value", "`socialProfiles[0].value` parameter is required"),
    ("POST", "/api/customers", {"firstName": "A", "websites": ["https://x.example"]},
     "websites[0]", "`websites[0]` must be an object"),
    ("POST", "/api/customers", {"firstName": "A", "address": "Lyon"},
     "address", "`address` must be an object"),
    ("POST", "/api/customers", {"firstName": "A", "address": {"city": 69}},
     "address.city", "`address.city` must be a string"),
    ("POST", "/api/customers", {"firstName": "A", "photoType": "selfie"},
     "photoType", "`photoType` must be one of: unknown, gravatar, twitter, facebook,"
     " googleprofile, googleplus, linkedin, vk"),
    ("PUT", "/api/customers/1", {"emails_add": [{"value": 5}]},
     "emails_add[0].value", "`emails_add[0].value` must be a string"),
    ("PUT", "/api/customers/1", {"emails": [5]},
     "emails[0]", "`emails[0]` must be an email address or an object with a `value`"),
    ("POST", "/api/users", {"firstName": "A", "lastName": "B"},
     "email", "`email` parameter is required"),
    ("POST", "/api/users", {"firstName": 5, "lastName": "B", "email": "a@b.example"},
     "firstName", "`firstName` must be a string"),
    ("POST", "/api/users", {"firstName": "A", "lastName": "B", "email": "ab.example"},
     "email", "`email` must be an email address"),
    ("POST", "/api/mailboxes", {"name": "A", "email": "a@b.example", "userIds": "1"},
     "userIds", "`userIds` must be a list of user ids"),
    ("POST", "/api/mailboxes", {"name": 5, "email": "a@b.example"},
     "name", "`name` must be a string"),
]  # fmt: skip

WEBHOOK = {"url": "https://93.184.216.34/hook", "events": ["convo.created"]}

WEBHOOKS: list[BodyCase] = [
    ("POST", "/api/webhooks", {"url": WEBHOOK["url"]}, "events", "`events` parameter is required"),
    ("POST", "/api/webhooks", {**WEBHOOK, "events": 5},
     "events", "`events` must be a list of strings"),
    ("POST", "/api/webhooks", {**WEBHOOK, "url": 5}, "url", "`url` must be a string"),
    ("POST", "/api/webhooks", {**WEBHOOK, "mailboxes": "1"},
     "mailboxes", "`mailboxes` must be a list of mailbox ids"),
    ("POST", "/api/webhooks", {**WEBHOOK, "format": "xml"},
     "format", "`format` must be freescout or envelope"),
    ("POST", "/api/webhooks", {**WEBHOOK, "maxConcurrency": "x"},
     "maxConcurrency", "`maxConcurrency` must be an integer"),
    ("PUT", "/api/webhooks/1", {"enabled": "maybe"}, "enabled", "`enabled` must be a boolean"),
    ("POST", "/api/webhooks/1/redeliver", {"since": "soon"},
     "since", "`since` must be an ISO 8601 date"),
    ("POST", "/api/webhooks/1/redeliver", {"since": SINCE, "until": 5},
     "until", "`until` must be an ISO 8601 date"),
    ("POST", "/api/webhooks/1/redeliver", {"since": SINCE, "status": [5]},
     "status", "`status` must be a list of strings"),
    ("POST", "/api/webhooks/1/redeliver", {"deliveryId": 5},
     "deliveryId", "`deliveryId` must be a string"),
]  # fmt: skip

OPERATIONS: list[BodyCase] = [
    ("POST", "/api/operations", {"action": 5}, "action", "`action` must be a string"),
    ("POST", "/api/operations", {"action": "status", "conversationIds": [1]},
     "byUser", "byUser parameter is required."),
    ("POST", "/api/operations", {"action": "status", "conversationIds": [1], "byUser": 1},
     "params.status", "`params.status` parameter is required"),
    ("POST", "/api/operations",
     {"action": "status", "conversationIds": [1], "byUser": 1, "params": {"status": 3}},
     "params.status", f"`params.status` must be one of: {CONVERSATION_STATUSES}"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": [1], "params": "x"},
     "params", "`params` must be an object"),
    ("POST", "/api/operations",
     {"action": "assign", "conversationIds": [1], "byUser": 1, "params": {"user": "x"}},
     "params.user", "`params.user` must be an integer"),
    ("POST", "/api/operations", {"action": "move", "conversationIds": [1], "byUser": 1},
     "params.mailboxId", "`params.mailboxId` parameter is required"),
    ("POST", "/api/operations",
     {"action": "tag", "conversationIds": [1], "params": {"tags": ["a"], "replace": "x"}},
     "params.replace", "`params.replace` must be a boolean"),
    ("POST", "/api/operations", {"action": "tag", "conversationIds": [1], "params": {"tags": "a"}},
     "params.tags", "`params.tags` must be a list of tag names"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": "1"},
     "conversationIds", "`conversationIds` must be a list of conversation ids"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": [1, "2"]},
     "conversationIds[1]", "`conversationIds[1]` must be a conversation id"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": [2**64]},
     "conversationIds[0]", "`conversationIds[0]` must be a conversation id"),
    ("POST", "/api/operations", {"action": "delete", "filter": "x"},
     "filter", "`filter` must be an object"),
    ("POST", "/api/operations", {"action": "delete", "filter": {"mailboxId": "x"}},
     "filter.mailboxId", "`filter.mailboxId` must be an integer"),
    ("POST", "/api/operations", {"action": "delete", "filter": {"tag": 5}},
     "filter.tag", "`filter.tag` must be a string"),
    ("POST", "/api/operations", {"action": "delete", "filter": {"updatedBefore": "soon"}},
     "filter.updatedBefore", "`filter.updatedBefore` must be an ISO 8601 date"),
    ("POST", "/api/operations", {"action": "delete", "filter": {"status": "open"}},
     "filter.status", f"`filter.status` must be one of: {CONVERSATION_STATUSES}"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": [1], "atomic": "x"},
     "atomic", "`atomic` must be a boolean"),
    ("POST", "/api/operations", {"action": "delete", "conversationIds": [1], "timeoutSeconds": "x"},
     "timeoutSeconds", "`timeoutSeconds` must be an integer"),
]  # fmt: skip

BODY_CASES = {
    "create conversation": CREATE_CONVERSATION,
    "change conversation": CHANGE_CONVERSATION,
    "people and mailboxes": PEOPLE_AND_MAILBOXES,
    "webhooks": WEBHOOKS,
    "operations": OPERATIONS,
}

QUERY_CASES: list[QueryCase] = [
    ("GET", "/api/conversations?page=x", "page", "`page` must be an integer", "query"),
    ("GET", "/api/conversations?pageSize=0",
     "pageSize", "`pageSize` must be between 1 and 500", "query"),
    ("GET", "/api/conversations?status=open",
     "status", f"`status` must be one of: {CONVERSATION_STATUSES}", "query"),
    ("GET", "/api/conversations?type=email,chat", "type", "`type` takes one value", "query"),
    ("GET", "/api/conversations?mailboxId=a",
     "mailboxId", "`mailboxId` must be an id or a comma-separated list of ids", "query"),
    ("GET", "/api/conversations?assignedTo=1,2",
     "assignedTo", "`assignedTo` must be one user id", "query"),
    ("GET", "/api/conversations?customerId=x", "customerId", "`customerId` must be an integer",
     "query"),
    ("GET", "/api/conversations?createdSince=soon",
     "createdSince", "`createdSince` must be an ISO 8601 date", "query"),
    ("GET", "/api/conversations?sortOrder=up", "sortOrder", "`sortOrder` must be asc or desc",
     "query"),
    ("GET", "/api/conversations?embed=files",
     "embed", "`embed` may list threads, timelogs, tags", "query"),
    ("GET", "/api/conversations/1?embed=files",
     "embed", "`embed` may list threads, timelogs, tags", "query"),
    ("GET", "/api/conversations/abc", "convo_id", "`convo_id` must be an integer", "path"),
    ("GET", "/api/customers?updatedSince=soon",
     "updatedSince", "`updatedSince` must be an ISO 8601 date", "query"),
    ("GET", "/api/customers?sortField=phone",
     "sortField", "`sortField` must be one of: createdAt, firstName, lastName, updatedAt",
     "query"),
    ("GET", "/api/users?page=x", "page", "`page` must be an integer", "query"),
    ("GET", "/api/users?pageSize=1.5", "pageSize", "`pageSize` must be an integer", "query"),
    ("GET", "/api/mailboxes?userId=x", "userId", "`userId` must be an integer", "query"),
    ("GET", "/api/mailboxes/1/folders?folderId=x", "folderId", "`folderId` must be an integer",
     "query"),
    ("GET", "/api/tags?conversationId=x",
     "conversationId", "`conversationId` must be an integer", "query"),
    ("GET", "/api/webhooks?page=0", "page", "`page` must be 1 or more", "query"),
    ("GET", "/api/webhooks/1/deliveries?status=lost",
     "status", "`status` must be one of: pending, delivered, failed, skipped", "query"),
    ("GET", "/api/webhooks/1/deliveries?since=soon",
     "since", "`since` must be an ISO 8601 date", "query"),
    ("GET", "/api/webhooks/1/deliveries?until=soon",
     "until", "`until` must be an ISO 8601 date", "query"),
    ("GET", "/api/events?limit=x", "limit", "`limit` must be an integer", "query"),
    ("GET", "/api/events?limit=0", "limit", "`limit` must be between 1 and 1000", "query"),
    ("GET", "/api/events?after=x",
     "after", "`after` must be a cursor returned by this endpoint", "query"),
    ("GET", "/api/events?type=convo.exploded",
     "type", "Unknown event types: convo.exploded", "query"),
    ("GET", "/api/operations?status=lost",
     "status", "`status` must be one of: queued, running, completed, failed, cancelled,"
     " timed_out", "query"),
    ("DELETE", "/api/users/2", "byUserId", "`byUserId` parameter is required", "query"),
    ("DELETE", "/api/users/2?byUserId=x", "byUserId", "`byUserId` must be an integer", "query"),
    ("DELETE", "/api/users/2?byUserId=999", "byUserId", "User 999 not found", "query"),
    ("DELETE", "/api/users/2?byUserId=1&assignTo[1]=x",
     "assignTo[1]", "`assignTo[1]` must map a mailbox id to a user id", "query"),
    ("DELETE", "/api/users/2?byUserId=1&assignTo[1]=999",
     "assignTo[1]", "User 999 not found", "query"),
    ("DELETE", "/api/users/1?byUserId=1",
     "id", "The last administrator can not be deleted", "path"),
    ("DELETE", "/api/mailboxes/1?dryRun=maybe", "dryRun", "`dryRun` must be a boolean", "query"),
]  # fmt: skip


@pytest.fixture
def seeded(client: ApiClient, desk: Desk) -> Desk:
    """The desk with conversation 1 and (enabled) webhook 1."""
    create_conversation(client, new_conversation(desk.mailbox))
    assert client.post("/api/webhooks", json=WEBHOOK).status_code == 201
    return desk


def _error(response: Any) -> dict[str, Any]:
    [error] = assert_invalid(response)
    return error


@pytest.mark.parametrize("group", BODY_CASES)
def test_body_errors_name_the_field_and_what_is_wrong(
    client: ApiClient, seeded: Desk, counts: Any, subtests: pytest.Subtests, group: str
) -> None:
    before = counts()
    for method, url, body, path, message in BODY_CASES[group]:
        with subtests.test(f"{method} {url} {path}", body=body):
            error = _error(client.request(method, url, json=body))
            assert error == {"path": path, "message": message, "source": "JSON"}
    assert counts() == before


def test_query_errors_name_the_parameter(
    client: ApiClient, seeded: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    before = counts()
    for method, url, path, message, source in QUERY_CASES:
        with subtests.test(f"{method} {url}"):
            error = _error(client.request(method, url))
            assert error == {"path": path, "message": message, "source": source}
    assert counts() == before


def test_a_wrong_type_is_not_reported_as_missing(client: ApiClient, seeded: Desk) -> None:
    """Issue 16's example: a string where the threads belong."""
    error = _error(client.post("/api/conversations", json=_convo(threads="nope")))
    assert "required" not in error["message"]
    assert error == {
        "path": "threads",
        "message": "`threads` must be a list of thread objects",
        "source": "JSON",
    }


def test_every_body_field_error_is_json_and_every_query_error_is_query(
    client: ApiClient, seeded: Desk
) -> None:
    """The same name in the body and in the query string: each says where it was."""
    body = client.post("/api/webhooks/1/redeliver", json={"since": "soon"})
    query = client.get("/api/webhooks/1/deliveries", params={"since": "soon"})
    assert _error(body)["source"] == "JSON"
    assert _error(query)["source"] == "query"
    assert _error(body)["message"] == _error(query)["message"]
