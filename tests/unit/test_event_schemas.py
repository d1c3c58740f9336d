"""The published event schemas describe the payloads Tidings really produces.

Every event type in the catalog is caused through the public API (and the operation
runner), read back from ``GET /api/events`` and validated against the schema that
``schemas/index.json`` names for it; the log entry itself is validated against
``event.json``. The validator is strict about keys: a payload key that a schema does
not declare fails the test, so the schemas (and docs/events.md) cannot fall behind.

jsonschema is not a dependency, so the subset of draft 2020-12 that the schemas use
is implemented here: ``type`` (a name or a list of names, ``"null"`` for nullable),
``enum``, ``const``, ``pattern``, ``minimum``, ``required``, ``properties``, ``items``,
``anyOf`` and local ``$ref`` into ``$defs``. ``test_schemas_use_only_known_keywords``
makes sure no schema relies on a keyword this validator would silently skip.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tidings.events
from tidings.app import create_app
from tidings.config import Settings
from tidings.events.catalog import ALL_EVENTS
from tidings.operations.confirm import ids_digest
from tidings.operations.runner import Runner
from tidings.webhooks.dispatcher import Dispatcher
from tidings.webhooks.sender import Sent

with warnings.catch_warnings():
    # starlette.testclient warns at import when it falls back to httpx (not httpx2).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SCHEMAS = Path(tidings.events.__file__).parent / "schemas"
HEADERS = {"X-FreeScout-API-Key": "k"}

ANNOTATIONS = {"$schema", "$comment", "$defs", "title", "description"}
ASSERTIONS = {
    "type",
    "enum",
    "const",
    "pattern",
    "minimum",
    "required",
    "properties",
    "items",
    "anyOf",
    "$ref",
}
TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return schema


def errors(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "$") -> list[str]:
    """Why ``value`` does not match ``schema`` (empty when it does); undeclared keys fail."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return errors(value, root["$defs"][name], root, at)
    if "anyOf" in schema:
        if any(not errors(value, option, root, at) for option in schema["anyOf"]):
            return []
        return [f"{at}: matches none of anyOf: {value!r:.80}"]
    found: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[n](value) for n in names):
            return [f"{at}: {value!r:.80} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{at}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, int | float) and value < schema["minimum"]:
        found.append(f"{at}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        declared = schema.get("properties", {})
        found += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        if "properties" in schema:
            found += [f"{at}: undeclared key {k}" for k in value if k not in declared]
        for key, sub in declared.items():
            if key in value:
                found += errors(value[key], sub, root, f"{at}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], root, f"{at}[{i}]")
    return found


def assert_valid(value: Any, schema_name: str) -> None:
    schema = load(schema_name)
    problems = errors(value, schema, schema)
    assert not problems, f"{schema_name}: " + "; ".join(problems[:10])


# --- the schemas themselves ----------------------------------------------------------


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from _keywords(sub)
            elif key in ("items",):
                yield from _keywords(value)
            elif key == "anyOf":
                for sub in value:
                    yield from _keywords(sub)


@pytest.mark.parametrize(
    "name", ["conversation.json", "customer.json", "operation.json", "event.json"]
)
def test_schemas_use_only_known_keywords(name: str) -> None:
    schema = load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(_keywords(schema)) <= ANNOTATIONS | ASSERTIONS


def test_index_names_a_schema_for_every_catalog_event() -> None:
    index = load("index.json")
    assert list(index["events"]) == list(ALL_EVENTS)
    assert (SCHEMAS / index["envelope"]).is_file()
    for name in set(index["events"].values()):
        assert (SCHEMAS / name).is_file(), name
    assert load("event.json")["properties"]["type"]["enum"] == list(ALL_EVENTS)


def test_the_validator_rejects_what_it_should() -> None:
    schema = load("operation.json")
    good = {
        "id": "op_" + "0" * 26,
        "action": "delete",
        "status": "queued",
        "total": 1,
        "processed": 0,
        "succeeded": 0,
        "failed": 0,
        "createdAt": "2031-01-01T00:00:00Z",
        "startedAt": None,
        "finishedAt": None,
        "error": None,
        "atomic": False,
        "timeoutSeconds": None,
        "byUser": None,
        "params": {},
        "digest": None,
    }
    assert errors(good, schema, schema) == []
    for change in (
        {"status": "paused"},
        {"total": -1},
        {"atomic": 0},
        {"total": True},
        {"createdAt": "2031-01-01 00:00:00"},
        {"digest": "abc"},
        {"extra": 1},
    ):
        assert errors({**good, **change}, schema, schema), change
    assert errors({k: v for k, v in good.items() if k != "params"}, schema, schema)


# --- real payloads -------------------------------------------------------------------


class Clock:
    """One second later on every reading, so progress and timeouts happen on cue."""

    def __init__(self) -> None:
        self.now = datetime(2031, 3, 4, 10, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Desk:
    def __init__(self, database_url: str) -> None:
        self.clock = Clock()
        self.settings = Settings(
            database_url=database_url,
            api_key="k",
            run_workers=False,
            run_dispatcher=False,
            operation_chunk_size=1,
            webhook_allowed_networks="127.0.0.0/8",
            webhook_lag_seconds=1,
        )
        self.app = create_app(self.settings, self.clock)
        self.client = TestClient(self.app, headers=HEADERS)

    def call(self, method: str, path: str, status: int, body: Any = None) -> Any:
        response = self.client.request(method, f"/api{path}", json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def run_operations(self) -> None:
        runner = Runner(self.app.state.ctx.db, self.clock, self.settings)
        while runner.run_once():
            pass

    def operation(self, body: dict[str, Any]) -> str:
        op_id: str = self.call("POST", "/operations", 202, body)["id"]
        return op_id

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = "0"
        while True:
            page = self.call("GET", f"/events?after={after}&limit=1000", 200)
            found += page["_embedded"]["events"]
            after = page["cursor"]["next"]
            if not page["cursor"]["hasMore"]:
                return found


@pytest.fixture
def desk(database_url: str) -> Iterator[Desk]:
    made = Desk(database_url)
    with made.client:
        yield made
    made.app.state.ctx.db.dispose()


def cause_every_event(d: Desk) -> dict[str, str]:
    """Cause each catalog event through the API; returns the ids of some operations."""
    agent = d.call("POST", "/users", 201, {"firstName": "Abe", "lastName": "A", "email": "a@x.io"})
    user = agent["id"]
    box = d.call("POST", "/mailboxes", 201, {"name": "Support", "email": "s@x.io"})["id"]
    box2 = d.call("POST", "/mailboxes", 201, {"name": "Billing", "email": "b@x.io"})["id"]
    customer = d.call(
        "POST",
        "/customers",
        201,
        {
            "firstName": "Cleo",
            "email": "cleo@example.com",
            "phones": [{"value": "+1555", "type": "mobile"}],
            "socialProfiles": [{"value": "@cleo", "type": "twitter"}],
            "websites": [{"value": "https://cleo.example"}],
            "address": {"city": "Lyon", "country": "FR"},
            "photoType": "gravatar",
        },
    )["id"]
    d.call("PUT", f"/customers/{customer}", 204, {"jobTitle": "CTO", "emails_add": ["c@x.io"]})

    def new_conversation(subject: str) -> int:
        created = d.call(
            "POST",
            "/conversations",
            201,
            {
                "type": "email",
                "mailboxId": box,
                "subject": subject,
                "customer": {"id": customer},
                "cc": ["boss@example.com"],
                "threads": [
                    {"type": "message", "text": "We are on it.", "user": user},
                    {
                        "type": "customer",
                        "text": "Help!",
                        "attachments": [
                            {"fileName": "a.txt", "mimeType": "text/plain", "data": "aGk="}
                        ],
                    },
                ],
            },
        )
        convo_id: int = created["id"]
        return convo_id

    convo = new_conversation("First")
    other = new_conversation("Second")
    path = f"/conversations/{convo}"
    d.call("POST", f"{path}/threads", 201, {"type": "customer", "text": "Any news?"})
    d.call("POST", f"{path}/threads", 201, {"type": "note", "text": "VIP", "user": user})
    d.call("POST", f"{path}/threads", 201, {"type": "message", "text": "Done.", "user": user})
    d.call("PUT", path, 204, {"status": "closed", "byUser": user})
    d.call("PUT", path, 204, {"assignTo": user, "byUser": user})
    d.call("PUT", path, 204, {"assignTo": None, "byUser": user})
    d.call("PUT", path, 204, {"subject": "First, renamed"})
    d.call("PUT", path, 204, {"mailboxId": box2, "byUser": user})
    d.call("PUT", f"{path}/tags", 204, {"tags": ["vip", "refund"]})
    d.call("PUT", path, 204, {"state": "deleted", "byUser": user})
    d.call("PUT", path, 204, {"state": "published", "byUser": user})
    d.call("POST", f"{path}/merge", 204, {"conversationId": other, "byUser": user})
    assert_valid(d.call("GET", path, 200), "conversation.json")
    assert_valid(d.call("GET", f"/customers/{customer}", 200), "customer.json")

    ops = {}
    ids = [new_conversation(f"Bulk {i}") for i in range(3)]
    ops["completed"] = d.operation({"action": "delete", "conversationIds": ids, "byUser": user})
    d.run_operations()
    forever: dict[str, Any] = {"action": "delete_forever", "conversationIds": ids}
    plan = d.call("POST", "/operations", 200, {**forever, "dryRun": True})
    ops["forever"] = d.operation({**forever, "confirmToken": plan["confirmToken"]})
    d.call("DELETE", f"/conversations/{convo}", 204)
    cancelled = d.operation({"action": "restore", "conversationIds": [other]})
    d.call("POST", f"/operations/{cancelled}/cancel", 202)
    tag_all = {"action": "tag", "filter": {"mailboxId": box}, "params": {"tags": ["x"]}}
    ops["timed_out"] = d.operation({**tag_all, "timeoutSeconds": 1})
    box3 = d.call("POST", "/mailboxes", 201, {"name": "Gone", "email": "g@x.io"})["id"]
    # The mailbox is deleted (an operation queued first, so run first) before the move
    # into it runs: the move fails.
    token = d.call("DELETE", f"/mailboxes/{box3}?dryRun=true", 200)["confirmToken"]
    d.call("DELETE", f"/mailboxes/{box3}?confirmToken={token}", 202)
    failed = d.operation(
        {
            "action": "move",
            "conversationIds": [other],
            "params": {"mailboxId": box3},
            "byUser": user,
        }
    )
    d.run_operations()
    assert d.call("GET", f"/operations/{failed}", 200)["status"] == "failed"
    assert d.call("GET", f"/operations/{cancelled}", 200)["status"] == "cancelled"
    cause_webhook_events(d)
    return ops


def cause_webhook_events(d: Desk) -> None:
    """Each ``webhook.*`` event: the API's test and disabling, and the dispatcher's health
    changes, driven here one claim and one record at a time (nothing is sent)."""
    hook = d.call("POST", "/webhooks", 201, {"url": "http://127.0.0.1:9/", "events": ["*"]})
    d.call("POST", f"/webhooks/{hook['id']}/test", 202)
    for n in range(5):
        d.call("POST", "/customers", 201, {"firstName": f"W{n}", "email": f"w{n}@x.io"})
    ctx = d.app.state.ctx
    dispatcher = Dispatcher(ctx.db, d.clock, d.settings, "secret", ctx.allowed_networks)
    due, _ = dispatcher._claim({})
    assert len(due) == 6
    refused = [Sent(d.clock(), 1, 500) for _ in due[:4]]
    dispatcher._record([dispatcher.result(x, sent) for x, sent in zip(due, refused, strict=False)])
    dispatcher._record([dispatcher.result(due[4], Sent(d.clock(), 1, 200))])
    dispatcher._lag_checked = 0  # the clock has moved on: the failed ones are late
    dispatcher._claim({})
    d.call("PUT", f"/webhooks/{hook['id']}", 204, {"enabled": False})


def test_every_event_payload_matches_its_schema(desk: Desk) -> None:
    cause_every_event(desk)
    index = load("index.json")
    log = desk.events()
    assert {e["type"] for e in log} == set(ALL_EVENTS)
    for event in log:
        assert_valid(event, index["envelope"])
        assert_valid(event["data"], index["events"][event["type"]])
    tagged = next(e for e in log if e["type"] == "convo.tags")
    assert tagged["data"]["_embedded"]["tags"]
    gone = next(e for e in log if e["type"] == "convo.deleted_forever" and not e["operationId"])
    assert gone["data"]["_embedded"]["threads"], "deleted_forever carries the threads"


def test_operation_digest_is_the_sha256_of_the_changed_ids(desk: Desk) -> None:
    ops = cause_every_event(desk)
    log = desk.events()
    for op_id in ops.values():
        mine = [e for e in log if e["operationId"] == op_id]
        final = mine[-1]["data"]
        assert final["id"] == op_id
        changed = sorted(e["entity"]["id"] for e in mine if e["entity"]["type"] == "conversation")
        if final["status"] == "completed":
            joined = ",".join(str(i) for i in changed)
            assert final["digest"] == hashlib.sha256(joined.encode()).hexdigest()
            assert final["digest"] == ids_digest(changed)
            assert final["succeeded"] + final["failed"] == final["processed"] == final["total"]
