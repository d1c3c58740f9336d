"""``/console/events``: the event log, newest first, growing live from the top.

The page is the newest events matching the filters, rendered by the server (readable
without JavaScript, paged with "older"). With JavaScript, htmx's SSE extension opens
``/console/events/stream`` from the newest position the page showed, and each event that
commits arrives as one table row (``event: event``, an HTML ``<tr>``), prepended. The
stream is the API's (``tidings.api.stream.follow``): same order, same guarantees; a reconnecting
``EventSource`` sends ``Last-Event-ID`` and resumes after it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response, StreamingResponse

from tidings.api import stream
from tidings.console import queries
from tidings.console.formatting import when
from tidings.console.web import PREFIX, SECURITY_HEADERS, Viewer, console_of, render, signed_in
from tidings.events import log
from tidings.events.catalog import ALL_EVENTS

router = APIRouter(prefix=f"{PREFIX}/events")
logger = logging.getLogger("tidings.console")
PAGE = 50
BATCH = 200


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter form's values, as typed (kept to fill the form again)."""

    type: str = ""
    mailbox: str = ""
    conversation: str = ""
    operation: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        return cls(
            *(q.get(name, "").strip() for name in ("type", "mailbox", "conversation", "operation"))
        )

    def problems(self) -> list[str]:
        found = []
        if self.type and self.type not in ALL_EVENTS:
            found.append(f"There is no event type {self.type!r}.")
        for name in ("mailbox", "conversation"):
            if getattr(self, name) and _int(getattr(self, name)) is None:
                found.append(f"The {name} must be a number.")
        return found

    def query(self, after: int = 0, limit: int = PAGE) -> log.EventQuery:
        return log.EventQuery(
            after,
            limit,
            (self.type,) if self.type in ALL_EVENTS else (),
            _int(self.mailbox),
            _int(self.conversation),
            self.operation or None,
        )

    def params(self) -> dict[str, str]:
        """The non-empty ones, for a link that keeps them."""
        return {
            k: v
            for k, v in (
                ("type", self.type),
                ("mailbox", self.mailbox),
                ("conversation", self.conversation),
                ("operation", self.operation),
            )
            if v
        }


def _int(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


@router.get("")
async def event_log(
    request: Request, before: str | None = None, viewer: Viewer = Depends(signed_in)
) -> Response:
    console = console_of(request)
    filters = Filters.of(request)
    problems = filters.problems()
    older_than = _int(before)

    def read(conn: Any) -> tuple[list[dict[str, Any]], int, list[tuple[int, str]]]:
        found = [] if problems else queries.latest_events(conn, filters.query(), older_than, PAGE)
        return found, log.newest_position(conn), queries.mailbox_choices(conn)

    found, newest, mailboxes = await console.read(read)
    items = _plain(found)
    stream_params = {**filters.params(), "after": str(newest)}
    return render(
        request,
        "events.html",
        viewer,
        active="events",
        title="Events",
        items=items,
        filters=filters,
        problems=problems,
        types=sorted(ALL_EVENTS),
        mailboxes=mailboxes,
        live=older_than is None and not problems,
        stream_url=f"{PREFIX}/events/stream?{urlencode(stream_params)}",
        older=(
            f"{PREFIX}/events?{urlencode({**filters.params(), 'before': items[-1]['seq']})}"
            if len(items) == PAGE
            else None
        ),
    )


def _plain(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with their payload as Python values (the log embeds it as raw JSON)."""
    found: list[dict[str, Any]] = orjson.loads(orjson.dumps(events))
    return found


@router.get("/stream")
async def event_stream(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    filters = Filters.of(request)
    resume = request.headers.get("last-event-id") or request.query_params.get("after")
    after = _int(resume) or 0
    body = _rows(request, filters.query(after, BATCH), viewer)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


async def _rows(
    request: Request, query: log.EventQuery, viewer: Viewer
) -> AsyncGenerator[bytes, None]:
    """Each batch as SSE messages of one ``<tr>`` each; a comment when nothing came."""
    console = console_of(request)
    template = console.templates.get_template("event_row.html")
    try:
        yield stream.RETRY
        async for batch in stream.follow(console.ctx, query):
            if not batch:
                yield stream.HEARTBEAT
                continue
            now = console.ctx.clock()
            chunks = []
            for event in _plain(batch):
                row = template.render(e=event, fresh=True, when=partial(when, now=now))
                line = " ".join(row.split("\n"))  # one SSE data line per message
                chunks.append(f"id: {event['seq']}\nevent: event\ndata: {line}\n\n")
            yield "".join(chunks).encode()
    except SQLAlchemyError as exc:
        logger.warning("console tail ended by a database error: %s", exc)


@router.get("/{event_id}")
async def event_detail(
    request: Request, event_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    found = await console_of(request).read(lambda conn: log.find(conn, event_id))
    if found is None:
        return render(request, "not_found.html", viewer, status=404, path=request.url.path)
    event = _plain([found])[0]
    return render(
        request,
        "event.html",
        viewer,
        active="events",
        e=event,
        payload=event["data"],
    )
