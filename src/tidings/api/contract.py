"""The API's contract: what openapi.json promises for every operation.

Routes answer raw ``Response`` objects (orjson, FreeScout's shapes), so FastAPI cannot
see what they send. This module says it: each operation's statuses and bodies (the
schemas are in ``tidings.api.components``) and each query parameter (and header, such as
``Last-Event-ID``) exactly as the server reads it. Routes name their success answers with
the helpers below (``ok``, ``created``, ``accepted``, ``page``, ``errors``); ``install``
adds what every operation shares (400, 401, 404 with a path id, 413 with a body) and drops
FastAPI's ``422``, which the app never sends (``tidings.api.errors`` answers 400).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tidings.api import stream
from tidings.api.components import Schema, components, list_name
from tidings.api.components import ref as ref  # the routes name bodies with c.ref
from tidings.desk.digest import DEFAULT_BUCKETS, MAX_BUCKETS
from tidings.desk.queries import CONVERSATION_SORTS, CUSTOMER_SORTS
from tidings.events.catalog import ALL_EVENTS
from tidings.operations.model import OperationStatus
from tidings.operations.store import ITEM_OUTCOMES
from tidings.webhooks.store import STATUSES as DELIVERY_STATUSES

Responses = dict[int | str, dict[str, Any]]

# --- responses, for the routes' ``responses=`` --------------------------------------

ERRORS = {
    400: "Invalid input: the request body, a query parameter or a path id "
    "(`_embedded.errors` names each field).",
    401: "Missing or wrong API key.",
    404: "Unknown id.",
    409: "Refused in this state (see the message).",
    413: "Request body larger than `TIDINGS_MAX_BODY_BYTES`.",
}
_RESOURCE_ID = {
    "Resource-ID": {
        "description": "The id of what was created or queued.",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _json(description: str, schema: Schema, headers: Schema | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def errors(*codes: int) -> Responses:
    """Error statuses beyond the ones every operation shares."""
    return {
        code: _json(ERRORS[code], ref("NotAuthorized") if code == 401 else ref("Error"))
        for code in codes
    }


def ok(name: str, *error_codes: int) -> Responses:
    return {200: _json(f"The {_words(name)}.", ref(name)), **errors(*error_codes)}


def page(key: str) -> Responses:
    """A FreeScout list of ``key`` (``conversations``, ``users``, ...)."""
    return {200: _json(f"A page of {key}.", ref(list_name(key)))}


def created(name: str) -> Responses:
    return {201: _json(f"Created: the {_words(name)}.", ref(name), _RESOURCE_ID)}


def accepted(
    description: str, schema: Schema, *error_codes: int, resource_id: bool = False
) -> Responses:
    headers = _RESOURCE_ID if resource_id else None
    return {202: _json(description, schema, headers), **errors(*error_codes)}


def dry_run() -> Responses:
    return {
        200: _json(
            "`dryRun`: what the request selects, and for a destructive action the "
            "`confirmToken` that confirms exactly that selection; nothing is queued.",
            ref("DryRun"),
        )
    }


def binary(description: str) -> Responses:
    """Bytes of any media type, with their file name in ``Content-Disposition``."""
    return {
        200: {
            "description": description,
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {
                "Content-Disposition": {
                    "description": "`attachment`, the file name (RFC 6266).",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        }
    }


def conflict(description: str) -> Responses:
    return {409: _json(description, ref("Error"))}


def not_found(description: str) -> Responses:
    """A 404 of an operation without an id in its path (those get one anyway)."""
    return {404: _json(description, ref("Error"))}


BULK: Responses = {
    **dry_run(),
    **accepted("Queued: the operation.", ref("Operation"), resource_id=True),
    **conflict(
        "A destructive action (`delete_forever`, `empty_trash`, `delete_mailbox`) without a "
        "valid `confirmToken`: none, expired, or its selection changed since the dry run."
    ),
}
TEST_EVENT: Responses = {
    **accepted("The `webhook.test` event, as `GET /api/events` shows it.", ref("Event")),
    **conflict("The webhook is disabled."),
}
REDELIVERY: Responses = {
    **accepted(
        "With `deliveryId`: that delivery, due again now. With `since`: a `redeliver` "
        "operation over the matching deliveries (`Resource-ID` is its id).",
        {"anyOf": [ref("Delivery"), ref("Operation")]},
    ),
    **conflict("The webhook is disabled, or the delivery is pending already or has no event."),
}


EVENT_STREAM: Responses = {
    200: {
        "description": "Server-Sent Events, without end: first "
        f"`retry: {stream.RETRY_MILLISECONDS}`, then one message per event in commit order "
        "(`id:` its `seq`, `event:` its type, `data:` the event as `GET /api/events` shows "
        f"it, on one line), and a `: keep-alive` comment after {stream.HEARTBEAT_SECONDS:g} s "
        "without one (docs/api.md, `GET /api/events/stream`). The schema describes one "
        "message.",
        "content": {"text/event-stream": {"schema": ref("StreamedEvent")}},
    }
}


def _words(name: str) -> str:
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()


# --- query parameters ----------------------------------------------------------------
# Routes with many filters read the query string themselves (``params.documented``), and
# FastAPI types the others loosely (``int | None``); both are described exactly here, by
# name, or by operation and name where one name means different things.

INT64 = 2**63 - 1
_ID: Schema = {"type": "integer", "minimum": -INT64 - 1, "maximum": INT64}
_MAX_PAGE_SIZE = 500  # TIDINGS_MAX_PAGE_SIZE's default, which the document states


def _space_class(keep: Callable[[str], bool]) -> str:
    """A regex class of the white space that the server ignores, as ``keep`` tells."""
    spaces = [c for c in map(chr, range(0x3001)) if c.isspace() and keep(c)]
    return "[" + "".join(f"\\u{ord(c):04x}" for c in spaces) + "]*"


def _int_ignores(c: str) -> bool:
    try:
        int(f"{c}0{c}")
    except ValueError:
        return False
    return True


_W = _space_class(lambda c: True)  # what str.strip() removes
_W_INT = _space_class(_int_ignores)  # what int() ignores around digits (not U+001C-U+001F)
_NUMBER = r"[+-]?[0-9]{1,18}"


def _listed(*items: str, around: str = _W) -> Schema:
    """A comma-separated list of ``items`` (regexes, padded with ``around``); blank items
    are ignored."""
    one = f"({_W}|{around}({'|'.join(items)}){around})"
    return {"type": "string", "pattern": f"^{one}(,{one})*$"}


def _names(*names: str) -> Schema:
    return _listed(*(n.replace(".", "[.]") for n in names))


def _one_of(*names: str, empty: bool = True) -> Schema:
    """One of ``names``; with ``empty``, an empty value means the default."""
    return {"type": "string", "enum": [*names, ""] if empty else list(names)}


QUERY: dict[str, Schema] = {
    "page": {"type": "integer", "minimum": 1, "maximum": INT64},
    "pageSize": {"type": "integer", "minimum": 1, "maximum": _MAX_PAGE_SIZE},
    "embed": _names("threads", "timelogs", "tags"),
    "createdSince": {"type": "string", "format": "date-time"},
    "updatedSince": {"type": "string", "format": "date-time"},
    "since": {"type": "string", "format": "date-time"},
    "until": {"type": "string", "format": "date-time"},
    "sortOrder": _one_of("asc", "desc"),
    "byUserId": _ID,
    **{
        name: _ID
        for name in (
            "userId",
            "folderId",
            "customerId",
            "number",
            "createdByUserId",
            "createdByCustomerId",
            "conversationId",
            "mailboxId",
        )
    },
}


_CURSOR: Schema = {"type": "string", "pattern": "^[0-9]{1,18}$"}


def _query_for(path: str, name: str) -> Schema | None:
    specific: dict[tuple[str, str], Schema] = {
        ("/api/conversations", "mailboxId"): _listed(_NUMBER, around=_W_INT),
        ("/api/conversations", "status"): _names("active", "pending", "closed", "spam"),
        ("/api/conversations", "state"): _one_of("published", "draft", "deleted", "all"),
        ("/api/conversations", "type"): _one_of("email", "phone", "chat", "custom"),
        ("/api/conversations", "assignedTo"): {
            "type": "string",
            "description": "A user id; empty or 0 for unassigned.",
            "pattern": f"^$|^({_W},)*{_W_INT}{_NUMBER}{_W_INT}(,{_W})*$",
        },
        ("/api/conversations", "sortField"): _one_of(*CONVERSATION_SORTS),
        ("/api/customers", "sortField"): _one_of(*CUSTOMER_SORTS),
        ("/api/conversations/digest", "buckets"): {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_BUCKETS,
            "default": DEFAULT_BUCKETS,
        },
        ("/api/conversations/digest", "bucket"): {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_BUCKETS - 1,
            "description": "Below `buckets` (a bucket at or above it is a 404).",
        },
        ("/api/events", "type"): _names(*ALL_EVENTS),
        ("/api/events", "after"): _CURSOR,
        ("/api/events", "limit"): {"type": "integer", "minimum": 1, "maximum": 1000},
        ("/api/events/stream", "type"): _names(*ALL_EVENTS),
        ("/api/events/stream", "after"): _CURSOR,
        ("/api/events/stream", "Last-Event-ID"): _CURSOR,
        ("/api/operations", "status"): _one_of(*OperationStatus, empty=False),
        ("/api/operations/{op_id}/items", "outcome"): _one_of(*ITEM_OUTCOMES, empty=False),
        ("/api/webhooks/{webhook_id}/deliveries", "status"): _one_of(
            *DELIVERY_STATUSES, empty=False
        ),
    }
    return specific.get((path, name), QUERY.get(name))


def required_query(name: str, description: str) -> dict[str, Any]:
    """``openapi_extra`` for a required query parameter the route reads itself."""
    return {
        "parameters": [{"name": name, "in": "query", "required": True, "description": description}]
    }


def _describe_parameters(path: str, operation: Schema) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] not in ("query", "header"):
            continue
        exact = _query_for(path, parameter["name"])
        if exact is not None:
            parameter["schema"] = exact


# --- the document --------------------------------------------------------------------

SECURITY_SCHEMES = {
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-FreeScout-API-Key"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
}
_WITH_BODY = {"post", "put", "patch", "delete"}


def complete(spec: Schema) -> Schema:
    """FastAPI's document made exact: shared statuses, no ``422``, the components."""
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            _complete_operation(path, method, operation)
    found = spec.setdefault("components", {})
    schemas = found.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(components())
    found["securitySchemes"] = SECURITY_SCHEMES
    return spec


def _complete_operation(path: str, method: str, operation: Schema) -> None:
    _describe_parameters(path, operation)
    answers = operation.setdefault("responses", {})
    answers.pop("422", None)
    shared = [400]
    if path.startswith("/api/"):
        shared.append(401)
        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    if "{" in path:
        shared.append(404)
    if method in _WITH_BODY:
        # ``authorize`` reads the body for an ``api_key`` when no key came otherwise.
        shared.append(413)
    for code, answer in errors(*shared).items():
        answers.setdefault(str(code), answer)


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first use)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
