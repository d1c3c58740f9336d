"""Request-body schemas for the OpenAPI document.

Routes read their bodies as raw JSON (so malformed input gets FreeScout's error body,
not FastAPI's); these schemas only describe the bodies for clients and generators.
The parsing and its error messages live in the desk services.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_STR: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_BOOL: Schema = {"type": "boolean"}
_STRINGS: Schema = {"oneOf": [{"type": "array", "items": _STR}, {"type": "string"}]}
_STATUS: Schema = {"enum": ["active", "pending", "closed", "spam"]}


def body(properties: Schema, required: list[str] | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a JSON request body with these properties."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


_CUSTOMER_REF: Schema = {
    "type": "object",
    "description": "Looked up by id, then email, then phone; created when not found.",
    "properties": {"id": _INT, "email": _STR, "phone": _STR, "firstName": _STR, "lastName": _STR},
}

_ATTACHMENT: Schema = {
    "type": "object",
    "required": ["fileName", "mimeType", "data"],
    "properties": {
        "fileName": _STR,
        "mimeType": _STR,
        "data": {"type": "string", "format": "byte"},
    },
}

THREAD: Schema = {
    "type": {"enum": ["customer", "message", "note"]},
    "text": _STR,
    "customer": _CUSTOMER_REF,
    "user": {**_INT, "description": "Required for message and note threads."},
    "status": _STATUS,
    "state": {"enum": ["draft", "published"]},
    "imported": _BOOL,
    "createdAt": {"type": "string", "format": "date-time"},
    "to": _STRINGS,
    "cc": _STRINGS,
    "bcc": _STRINGS,
    "attachments": {"type": "array", "items": _ATTACHMENT},
}

CREATE_CONVERSATION = body(
    {
        "type": {"enum": ["email", "phone", "chat", "custom"]},
        "mailboxId": _INT,
        "subject": _STR,
        "customer": _CUSTOMER_REF,
        "threads": {
            "type": "array",
            "description": "Newest first.",
            "items": {"type": "object", "properties": THREAD, "required": ["type", "text"]},
        },
        "status": _STATUS,
        "state": {"enum": ["draft", "published", "deleted"]},
        "assignTo": _INT,
        "imported": _BOOL,
        "createdAt": {"type": "string", "format": "date-time"},
        "closedAt": {"type": "string", "format": "date-time"},
        "cc": _STRINGS,
        "bcc": _STRINGS,
    },
    ["type", "mailboxId", "subject", "customer", "threads"],
)

UPDATE_CONVERSATION = body(
    {
        "byUser": {**_INT, "description": "Required with status, assignTo, mailboxId, state."},
        "status": _STATUS,
        "assignTo": {**_INT, "description": "0 or null unassigns."},
        "mailboxId": _INT,
        "customerId": _INT,
        "subject": _STR,
        "state": {"enum": ["published", "deleted"], "description": "Tidings extension."},
    }
)

CREATE_THREAD = body(THREAD, ["type", "text"])
TAGS = body({"tags": {"type": "array", "items": _STR}}, ["tags"])
MERGE = body({"conversationId": _INT, "byUser": _INT}, ["conversationId", "byUser"])

_TYPED_VALUES: Schema = {
    "type": "array",
    "items": {"type": "object", "properties": {"value": _STR, "type": _STR}, "required": ["value"]},
}
CUSTOMER_FIELDS: Schema = {
    "firstName": _STR,
    "lastName": _STR,
    "jobTitle": _STR,
    "company": _STR,
    "photoUrl": _STR,
    "photoType": _STR,
    "notes": _STR,
    "phone": _STR,
    "email": _STR,
    "address": {
        "type": "object",
        "properties": {k: _STR for k in ("city", "state", "zip", "country", "address")},
    },
    "phones": _TYPED_VALUES,
    "socialProfiles": _TYPED_VALUES,
    "websites": _TYPED_VALUES,
}
CREATE_CUSTOMER = body({**CUSTOMER_FIELDS, "emails": _TYPED_VALUES})
UPDATE_CUSTOMER = body(
    {
        **CUSTOMER_FIELDS,
        "emails": {"type": "array", "items": _STR, "description": "Replaces the list."},
        "emails_add": {"type": "array", "items": _STR, "description": "Appends."},
    }
)

CREATE_USER = body(
    {
        "firstName": _STR,
        "lastName": _STR,
        "email": _STR,
        "password": _STR,
        "alternateEmails": _STR,
        "jobTitle": _STR,
        "phone": _STR,
        "timezone": _STR,
        "photoUrl": _STR,
    },
    ["firstName", "lastName", "email"],
)

CREATE_MAILBOX = body(
    {"name": _STR, "email": _STR, "userIds": {"type": "array", "items": _INT}},
    ["name", "email"],
)

_WEBHOOK: Schema = {
    "url": _STR,
    "events": _STRINGS,
    "mailboxes": {"type": "array", "items": _INT, "description": "[] = every mailbox"},
    "enabled": _BOOL,
    "format": {"enum": ["freescout", "envelope"]},
    "orderedDelivery": _BOOL,
    "maxConcurrency": {"type": "integer", "minimum": 1, "maximum": 100},
}
CREATE_WEBHOOK = body(_WEBHOOK, ["url", "events"])
UPDATE_WEBHOOK = body(_WEBHOOK)
REDELIVER = body(
    {
        "deliveryId": _STR,
        "since": _STR,
        "until": _STR,
        "status": {"type": "array", "items": {"enum": ["failed", "skipped", "delivered"]}},
    }
)

CREATE_OPERATION = body(
    {
        "action": {
            "enum": [
                "delete",
                "restore",
                "delete_forever",
                "empty_trash",
                "delete_mailbox",
                "status",
                "assign",
                "move",
                "tag",
            ]
        },
        "conversationIds": {"type": "array", "items": _INT},
        "filter": {
            "type": "object",
            "properties": {
                "mailboxId": _INT,
                "folderId": _INT,
                "state": {"enum": ["draft", "published", "deleted"]},
                "status": _STATUS,
                "tag": _STR,
                "updatedBefore": {"type": "string", "format": "date-time"},
            },
        },
        "params": {
            "type": "object",
            "description": "status: {status}; assign: {user}; move: {mailboxId}; "
            "tag: {tags, replace}; empty_trash: {folder: deleted|spam}; "
            "delete_mailbox: {mailboxId} (no selection: every conversation of the mailbox).",
        },
        "byUser": _INT,
        "atomic": _BOOL,
        "timeoutSeconds": _INT,
        "dryRun": _BOOL,
        "confirmToken": _STR,
    },
    ["action"],
)
