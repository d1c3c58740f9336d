"""Following the event log as it grows: the batches behind ``GET /api/events/stream``.

A stream is a reader of ``log.read`` that never stops: it polls at a short interval and
holds no database connection in between, so an idle stream costs a cheap query a poll and
nothing else (no LISTEN connection per client on PostgreSQL, no thread). Each poll reads
where ``read_route`` would (ADR 0008): SQLite on the event loop, PostgreSQL in the thread
pool. The cursor is ``log.read``'s, so a stream sees what ``GET /api/events`` sees: every
committed event once, in commit order, none skipped for committing late.

Lives in ``api`` rather than ``events`` because it reads through the API's ``Context``,
and ``events`` imports nothing above it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from tidings.api.context import Context
from tidings.events import log

POLL_SECONDS = 0.5
# Proxies close a connection that stays silent for about a minute (nginx 60 s); a comment
# every 15 s keeps it open, and tells the server soon enough that a client has gone.
HEARTBEAT_SECONDS = 15.0
# The events one poll may read: enough to catch up quickly, few enough that a SQLite read
# on the event loop never holds up the other requests for long.
BATCH = 500
RETRY_MILLISECONDS = 2000

RETRY = f"retry: {RETRY_MILLISECONDS}\n\n".encode()
HEARTBEAT = b": keep-alive\n\n"

_closing = False


async def follow(
    ctx: Context,
    query: log.EventQuery,
    *,
    poll_seconds: float | None = None,
    heartbeat_seconds: float | None = None,
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Batches of the events after ``query.after`` that match ``query``, in commit order,
    as they commit, forever (until ``close_all``); at most ``query.limit`` a batch. Each
    event is as ``log.read`` gives it: its ``data`` an ``orjson.Fragment`` of the stored
    snapshot, which ``orjson.dumps`` writes as it is (``orjson.loads(orjson.dumps(event))``
    reads it).

    An empty batch means nothing arrived for ``heartbeat_seconds``: a caller writes its
    heartbeat then. While a batch comes back full, the next read follows at once. A caller
    that stops early closes it (``contextlib.aclosing``).
    """
    pause = POLL_SECONDS if poll_seconds is None else poll_seconds
    quiet = HEARTBEAT_SECONDS if heartbeat_seconds is None else heartbeat_seconds
    last_yield = time.monotonic()
    while not _closing:
        items, cursor, more = await _read(ctx, query)
        query = dataclasses.replace(query, after=cursor)
        if items or time.monotonic() - last_yield >= quiet:
            yield items
            last_yield = time.monotonic()
        if not more:
            await asyncio.sleep(pause)


async def _read(ctx: Context, query: log.EventQuery) -> tuple[list[dict[str, Any]], int, bool]:
    """One ``log.read`` where ``read_route`` would run it; the connection goes back to the
    pool before the stream sleeps."""
    return await ctx.reading(lambda conn: log.read(conn, query))


def sse_message(event: dict[str, Any]) -> bytes:
    """One event as one Server-Sent Events message.

    ``id`` is the event's position, so a browser's ``EventSource`` reconnects with it as
    ``Last-Event-ID`` and resumes right after it. The JSON is ``GET /api/events``'
    exactly, on one line: orjson never writes a raw line break (those inside strings are
    escaped), and SSE splits lines only at CR and LF.
    """
    data = orjson.dumps(event)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event["seq"], event["type"].encode(), data)


def close_all() -> None:
    """End every stream of this process within one poll: called when the server stops.

    uvicorn's graceful stop waits for every response in flight to end, and an event
    stream never ends by itself; without this, one open stream keeps ``tidings serve``
    from ever stopping on SIGTERM. Safe to call from a signal handler.
    """
    global _closing
    _closing = True
