"""The live tail's source: the API's event stream (``follow`` in ``tidings.api.stream``),
the same batches ``GET /api/events/stream`` sends, in commit order.

Looked up by name so that the console does not depend on where that module lives
(``tidings.api.stream`` or ``tidings.events.stream``); ``poll`` is the same loop over
``log.read`` for a server without it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from starlette.concurrency import run_in_threadpool

from tidings.api.context import Context
from tidings.events import log

Batches = AsyncIterator[list[dict[str, Any]]]
Follow = Callable[..., Batches]
MODULES = ("tidings.api.stream", "tidings.events.stream")
HEARTBEAT = b": keep-alive\n\n"


async def poll(
    ctx: Context, query: log.EventQuery, *, poll_seconds: float | None = None
) -> Batches:
    """Batches of the events after ``query.after`` matching ``query``, forever; an empty
    batch on each quiet poll (the caller's chance to send a heartbeat)."""
    while True:
        items, cursor, more = await _read(ctx, query)
        query = dataclasses.replace(query, after=cursor)
        yield items
        if not more:
            await asyncio.sleep(0.5 if poll_seconds is None else poll_seconds)


async def _read(ctx: Context, query: log.EventQuery) -> tuple[list[dict[str, Any]], int, bool]:
    """Where the API's reads run (ADR 0008): on the event loop on SQLite, else a thread."""

    def read() -> tuple[list[dict[str, Any]], int, bool]:
        with ctx.read() as conn:
            return log.read(conn, query)

    return read() if ctx.reads_on_event_loop else await run_in_threadpool(read)


def follower() -> Follow:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        return cast(Follow, module.follow)
    return poll
