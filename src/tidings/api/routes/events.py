"""/api/events: the event log, in commit order, as pages or as a live stream (Tidings
extensions)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

from fastapi import APIRouter, Depends, Header, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tidings.api import contract as c
from tidings.api import params, stream
from tidings.api.context import Context, context, read_route
from tidings.api.responses import JSON
from tidings.errors import InvalidInput
from tidings.events import log
from tidings.events.catalog import ALL_EVENTS

router = APIRouter(tags=["events"])
logger = logging.getLogger("tidings.api")

_AFTER = "The `cursor.next` of the previous page; omit to start at the beginning"
_TYPE = "Comma-separated event types"


@router.get("/events", responses=c.ok("EventPage"))
@read_route
def list_events(
    ctx: Context = Depends(context),
    after: str | None = Query(None, description=_AFTER),
    limit: int = Query(100, description="1 to 1000"),
    type: str | None = Query(None, description=_TYPE),
    mailboxId: int | None = None,
    conversationId: int | None = None,
    operationId: str | None = None,
) -> Response:
    start = _cursor(after)
    if not 1 <= limit <= 1000:
        raise params.invalid("limit", "`limit` must be between 1 and 1000")
    q = log.EventQuery(start, limit, _types(type), mailboxId, conversationId, operationId)
    with ctx.read() as conn:
        items, cursor, more = log.read(conn, q)
    return JSON({"_embedded": {"events": items}, "cursor": {"next": str(cursor), "hasMore": more}})


# Everything is checked before the first byte goes out: once the stream has begun, its
# status is 200 whatever happens.
@router.get("/events/stream", response_class=Response, responses=c.EVENT_STREAM)
async def stream_events(
    request: Request,
    ctx: Context = Depends(context),
    after: str | None = Query(
        None, description="Start after this position (an event's `seq`, or a `cursor.next`)"
    ),
    type: str | None = Query(None, description=_TYPE),
    mailboxId: int | None = None,
    conversationId: int | None = None,
    operationId: str | None = None,
    last_event_id: str | None = Header(
        None,
        alias="Last-Event-ID",
        description="Sent by `EventSource` when it reconnects; takes precedence over `after`",
    ),
) -> Response:
    start = _cursor(after)
    if last_event_id is not None:  # an EventSource reconnecting: resume where it was
        start = _cursor(last_event_id, "Last-Event-ID", "header")
    for name, value in (("mailboxId", mailboxId), ("conversationId", conversationId)):
        if value is not None and not -params.INT64 - 1 <= value <= params.INT64:
            raise params.invalid(name, f"`{name}` is out of range")
    q = log.EventQuery(start, stream.BATCH, _types(type), mailboxId, conversationId, operationId)
    return EventStream(_messages(ctx, q, _peer(request)))


def _cursor(value: str | None, name: str = "after", source: str = "query") -> int:
    """A position from ``after`` or ``Last-Event-ID``: digits, within 64 bits."""
    if value is None:
        return 0
    # ASCII digits only: ``isdigit`` alone admits ``²``, which ``int`` refuses.
    if not (value.isascii() and value.isdigit() and int(value) <= params.INT64):
        message = f"`{name}` must be a cursor returned by this endpoint"
        raise InvalidInput.field(name, message, source)
    return int(value)


def _types(value: str | None) -> tuple[str, ...]:
    types = tuple(t.strip() for t in (value or "").split(",") if t.strip())
    if unknown := [t for t in types if t not in ALL_EVENTS]:
        raise params.invalid("type", f"Unknown event types: {', '.join(unknown)}")
    return types


def _peer(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "a client"


async def _messages(ctx: Context, q: log.EventQuery, client: str) -> AsyncGenerator[bytes, None]:
    """The body: the retry hint, then each event as it commits, a comment when quiet.

    A database error ends the stream with one log line instead of a traceback: the status
    was sent long ago, and the client reconnects with ``Last-Event-ID`` after ``retry``.
    """
    sent = 0
    logger.info("event stream opened for %s after %d", client, q.after)
    try:
        yield stream.RETRY
        async with aclosing(stream.follow(ctx, q)) as batches:
            async for batch in batches:
                yield b"".join(map(stream.sse_message, batch)) or stream.HEARTBEAT
                sent += len(batch)
    except SQLAlchemyError as exc:
        logger.warning("event stream for %s ended by a database error: %s", client, exc)
    finally:
        logger.info("event stream closed for %s after %d events", client, sent)


class EventStream(StreamingResponse):
    """``text/event-stream``, uncached and unbuffered, its generator always closed.

    Starlette stops sending when the client goes away, but may leave the body generator
    suspended at a ``yield``; closing it here ends the stream's loop at once instead of
    whenever the garbage collector gets to it.
    """

    media_type = "text/event-stream"

    def __init__(self, body: AsyncGenerator[bytes, None]) -> None:
        # ``X-Accel-Buffering``: nginx would otherwise hold events back to fill a buffer.
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(body, headers=headers)
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
