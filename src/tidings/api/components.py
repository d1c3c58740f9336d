"""The schemas of openapi.json's ``components``: every answer's body, written once.

The conversation, customer, operation, webhook and event schemas are the event payload
schemas of ``tidings/events/schemas``: loaded from those files, their ``$defs`` become
components of their own (``#/$defs/thread`` is ``#/components/schemas/Thread``), so an
entity is described once, for the API and for the webhooks. The others are here:
mailbox, folder, user, delivery, FreeScout's list envelope and error body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tidings.events
from tidings.events.catalog import ALL_EVENTS
from tidings.operations.actions import BULK_ACTIONS
from tidings.operations.store import ITEM_OUTCOMES
from tidings.webhooks.store import STATUSES as DELIVERY_STATUSES

Schema = dict[str, Any]

REF = "#/components/schemas/"
EVENT_SCHEMAS = Path(tidings.events.__file__).parent / "schemas"
FROM_EVENT_SCHEMAS = {
    "Conversation": "conversation.json",
    "Customer": "customer.json",
    "Operation": "operation.json",
    "Webhook": "webhook.json",
    "Event": "event.json",
}


def ref(name: str) -> Schema:
    return {"$ref": REF + name}


def _object(properties: Schema, required: list[str] | None = None) -> Schema:
    """An object with these properties, every one of them required unless listed."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


_STR: Schema = {"type": "string"}
_STR_OR_NULL: Schema = {"type": ["string", "null"]}
_INT: Schema = {"type": "integer"}
_INT_OR_NULL: Schema = {"type": ["integer", "null"]}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_DATE = ref("Date")
_SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_DATE_OR_NULL = ref("DateOrNull")
# Entities that are not event payloads (the others come from the event schema files).
ENTITIES: dict[str, Schema] = {
    "Mailbox": _object(
        {"id": _INT, "name": _STR, "email": _STR, "createdAt": _DATE, "updatedAt": _DATE}
    ),
    "Folder": _object(
        {
            "id": _INT,
            "name": _STR,
            "type": {
                "enum": [1, 20, 25, 30, 40, 60, 70, 80],
                "description": "Unassigned 1, Mine 20, Starred 25, Drafts 30, Assigned 40, "
                "Closed 60, Deleted 70, Spam 80.",
            },
            "userId": {**_INT_OR_NULL, "description": "The owner of a Mine or Starred folder."},
            "totalCount": _COUNT,
            "activeCount": _COUNT,
            "meta": {"type": "object"},
        }
    ),
    "User": _object(
        {
            "id": _INT,
            "firstName": _STR,
            "lastName": _STR,
            "email": _STR,
            "role": {"enum": ["admin", "user"]},
            "alternateEmails": {**_STR, "description": "Comma-separated."},
            "jobTitle": _STR_OR_NULL,
            "phone": _STR_OR_NULL,
            "timezone": _STR,
            "photoUrl": _STR_OR_NULL,
            "language": _STR,
            "createdAt": _DATE,
            "updatedAt": _DATE,
        }
    ),
    "CountedTag": {
        "description": "A tag with how many conversations carry it (FreeScout's full form).",
        "allOf": [ref("Tag"), _object({"counter": _COUNT, "color": _INT})],
    },
    "NewThread": {
        "description": "The thread as the conversation shows it; a draft, which is not among "
        "the published threads, with its id only.",
        "anyOf": [ref("Thread"), _object({"id": _INT})],
    },
    "NewWebhook": {
        "description": "The webhook, its signing secret (shown only here) and the event names "
        "that were dropped as unknown.",
        "allOf": [ref("Webhook"), _object({"secret": _STR, "ignoredEvents": _array(_STR)})],
    },
    "RotatedWebhook": {
        "description": "The webhook and its new signing secret.",
        "allOf": [ref("Webhook"), _object({"secret": _STR})],
    },
    "Delivery": _object(
        {
            "id": {**_STR, "description": "The `webhook-id` header of every attempt."},
            "sequence": {**_INT, "description": "`X-Tidings-Sequence`."},
            "status": {"enum": list(DELIVERY_STATUSES)},
            "event": _object(
                {
                    "id": {**_STR_OR_NULL, "description": "null once pruned from the log."},
                    "seq": _INT,
                    "type": _STR_OR_NULL,
                }
            ),
            "attempts": _array(ref("DeliveryAttempt")),
            "nextAttemptAt": _DATE_OR_NULL,
            "createdAt": _DATE,
            "finishedAt": _DATE_OR_NULL,
        }
    ),
    "DeliveryAttempt": _object(
        {
            "number": {"type": "integer", "minimum": 1},
            "startedAt": _DATE,
            "statusCode": {**_INT_OR_NULL, "description": "null when no answer came."},
            "latencyMs": _COUNT,
            "responseBody": {**_STR_OR_NULL, "description": "The first 1,024 bytes."},
            "errorClass": _STR_OR_NULL,
            "error": _STR_OR_NULL,
        }
    ),
    "OperationItem": _object(
        {
            "position": {**_COUNT, "description": "In selection order."},
            "conversationId": _INT,
            "outcome": {"enum": list(ITEM_OUTCOMES)},
        }
    ),
    "DryRun": _object(
        {
            "action": {"enum": list(BULK_ACTIONS)},
            "total": {**_COUNT, "description": "Conversations selected."},
            "confirmToken": {**_STR, "description": "Destructive actions only."},
            "expiresAt": {**_DATE, "description": "When confirmToken expires."},
        },
        required=["action", "total"],
    ),
    "ConversationDigest": {
        "description": "Counts and SHA-256 hashes of (id, updatedAt, state) in buckets "
        "(docs/api.md, `GET /api/conversations/digest`).",
        **_object(
            {
                "buckets": {"type": "integer", "minimum": 1},
                "total": {**_COUNT, "description": "Conversations digested."},
                "hash": {**_SHA256, "description": "Of the bucket hashes joined by `\\n`."},
                "items": _array(
                    _object(
                        {
                            "bucket": {**_COUNT, "description": "`id % buckets`."},
                            "count": _COUNT,
                            "hash": {
                                **_SHA256,
                                "description": "Of the lines `{id}:{updatedAt}:{state}\\n` "
                                "of its conversations, ascending by id.",
                            },
                        }
                    )
                ),
                "conversations": {
                    **_array(
                        _object(
                            {
                                "id": _INT,
                                "updatedAt": _DATE,
                                "state": {"enum": ["draft", "published", "deleted"]},
                            }
                        )
                    ),
                    "description": "With `bucket`: its conversations, ascending by id.",
                },
            },
            required=["buckets", "total", "hash", "items"],
        ),
    },
    "Page": _object(
        {
            "size": {"type": "integer", "minimum": 1},
            "totalElements": _COUNT,
            "totalPages": _COUNT,
            "number": {"type": "integer", "minimum": 1},
        }
    ),
    "EventPage": _object(
        {
            "_embedded": _object({"events": _array(ref("Event"))}),
            "cursor": _object(
                {
                    "next": {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": "The `after` of the next page.",
                    },
                    "hasMore": {"type": "boolean"},
                }
            ),
        }
    ),
    "StreamedEvent": {
        "description": "One message of `GET /api/events/stream`, as an `EventSource` reads it.",
        **_object(
            {
                "id": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "The event's `seq`: `Last-Event-ID` when reconnecting.",
                },
                "event": {"enum": list(ALL_EVENTS), "description": "The event's type."},
                "data": {
                    "type": "string",
                    "description": "The event as `GET /api/events` shows it, on one line.",
                    "contentMediaType": "application/json",
                    "contentSchema": ref("Event"),
                },
            }
        ),
    },
    "Error": {
        "description": "FreeScout's error body.",
        **_object(
            {
                "message": _STR,
                "errorCode": _STR,
                "_embedded": _object({"errors": _array(ref("FieldError"))}),
            },
            required=["message", "_embedded"],
        ),
    },
    "FieldError": _object(
        {
            "path": {**_STR, "description": "The field or query parameter, e.g. `params.status`."},
            "message": _STR,
            "source": {**_STR, "description": "`JSON` for a body field, `query` for a parameter."},
            "rejectedValue": {},
        },
        required=["path", "message", "source"],
    ),
    "NotAuthorized": _object({"message": {"const": "Not Authorized"}}),
}

# Lists: FreeScout's envelope, ``_embedded.<key>`` and ``page``.
LISTS = {
    "conversations": "Conversation",
    "customers": "Customer",
    "users": "User",
    "mailboxes": "Mailbox",
    "folders": "Folder",
    "tags": "CountedTag",
    "webhooks": "Webhook",
    "deliveries": "Delivery",
    "operations": "Operation",
    "items": "OperationItem",
}


def list_name(key: str) -> str:
    return LISTS[key] + "Page"


def _envelopes() -> dict[str, Schema]:
    return {
        list_name(key): _object(
            {"_embedded": _object({key: _array(ref(item))}), "page": ref("Page")}
        )
        for key, item in LISTS.items()
    }


# --- the event payload schemas, as components ---------------------------------------


def event_schema_components() -> dict[str, Schema]:
    """Each event payload schema, and each of its ``$defs``, as an OpenAPI component."""
    found: dict[str, Schema] = {}
    for name, file in FROM_EVENT_SCHEMAS.items():
        schema = json.loads((EVENT_SCHEMAS / file).read_text(encoding="utf-8"))
        schema.pop("$schema", None)
        for key, sub in schema.pop("$defs", {}).items():
            _put(found, _component(key), _rewrite(sub))
        _put(found, name, _rewrite(schema))
    return found


def _component(key: str) -> str:
    return key[:1].upper() + key[1:]


def _rewrite(node: Any) -> Any:
    """The schema with its local ``#/$defs/x`` references pointing at components."""
    if isinstance(node, dict):
        return {k: _retarget(v) if k == "$ref" else _rewrite(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


def _retarget(target: str) -> str:
    if not target.startswith("#/$defs/"):
        raise ValueError(f"only local $defs references are supported, not {target}")
    return REF + _component(target.removeprefix("#/$defs/"))


def _put(into: dict[str, Schema], name: str, schema: Schema) -> None:
    # Files repeat small definitions (``date``); the same name must mean the same schema.
    if into.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas are named {name}")


def components() -> dict[str, Schema]:
    found = event_schema_components()
    for name, schema in {**ENTITIES, **_envelopes()}.items():
        _put(found, name, schema)
    return found
