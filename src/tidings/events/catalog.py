"""Every event Tidings announces. FreeScout's twelve keep FreeScout's names and payloads."""

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
)

ALL_EVENTS = FREESCOUT_EVENTS + TIDINGS_EVENTS
