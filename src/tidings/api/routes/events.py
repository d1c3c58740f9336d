"""/api/events: the event log, in commit order (Tidings extension)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from tidings.api import contract as c
from tidings.api import params
from tidings.api.context import Context, context, read_route
from tidings.api.responses import JSON
from tidings.events import log
from tidings.events.catalog import ALL_EVENTS

router = APIRouter(tags=["events"])


@router.get("/events", responses=c.ok("EventPage"))
@read_route
def list_events(
    ctx: Context = Depends(context),
    after: str | None = Query(
        None, description="The `cursor.next` of the previous page; omit to start at the beginning"
    ),
    limit: int = Query(100, description="1 to 1000"),
    type: str | None = Query(None, description="Comma-separated event types"),
    mailboxId: int | None = None,
    conversationId: int | None = None,
    operationId: str | None = None,
) -> Response:
    if after is not None and not (after.isascii() and after.isdigit()):
        raise params.invalid("after", "`after` must be a cursor returned by this endpoint")
    if not 1 <= limit <= 1000:
        raise params.invalid("limit", "`limit` must be between 1 and 1000")
    types = tuple(t.strip() for t in (type or "").split(",") if t.strip())
    if unknown := [t for t in types if t not in ALL_EVENTS]:
        raise params.invalid("type", f"Unknown event types: {', '.join(unknown)}")
    q = log.EventQuery(int(after or 0), limit, types, mailboxId, conversationId, operationId)
    with ctx.read() as conn:
        items, cursor, more = log.read(conn, q)
    return JSON({"_embedded": {"events": items}, "cursor": {"next": str(cursor), "hasMore": more}})
