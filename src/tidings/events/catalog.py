"""Every event Tidings announces. FreeScout's twelve keep FreeScout's names and payloads.

The ``webhook.*`` events are about delivery itself (a webhook's health, a test): their
payload is the webhook as ``GET /api/webhooks/{id}`` shows it."""

from __future__ import annotations

FREESCOUT_EVENTS = (
    "convo.assigned",
    "convo.created",
    "convo.deleted",
    "convo.deleted_forever",
    "convo.restored",
    "convo.moved",
    "convo.status",
    "convo.customer.reply.created",
    "convo.agent.reply.created",
    "convo.note.created",
    "customer.created",
    "customer.updated",
)

TIDINGS_EVENTS = (
    "convo.unassigned",
    "convo.tags",
    "convo.merged",
    "convo.updated",
    "operation.started",
    "operation.progress",
    "operation.completed",
    "operation.failed",
    "operation.cancelled",
    "operation.timed_out",
    "webhook.test",
    "webhook.failing",
    "webhook.recovered",
    "webhook.disabled",
    "webhook.lagging",
)

ALL_EVENTS = FREESCOUT_EVENTS + TIDINGS_EVENTS
