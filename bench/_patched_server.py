"""Experiment: ``tidings serve`` with some recommended read-path fixes patched in.

    TIDINGS_BENCH_PATCHES=count_cache,fastviews,threads=1 \
        python bench/_patched_server.py serve --host 127.0.0.1 --port P

Used by ``api.py --patches ...``; never by Tidings. In this process only:

- ``count_cache``: the list total (``COUNT(*)``) is cached per filter and per position of
  the event log (``max(events.seq)``). Every committed change appends an event in its
  own transaction (invariant 1), so a cached total is exact until the log moves;
- ``fastviews``: ``conversations_json`` is replaced by bench/_fastviews.py, which produces
  the same bytes (checked by views.py and bulk.py) from raw rows;
- ``threads=N``: sync endpoints run on at most N threads (anyio's default is 40). The
  sqlite3 module releases the GIL around every step of every row, so many threads
  running short queries hand the GIL back and forth thousands of times a second.

Everything else (FastAPI, uvicorn, authentication, transactions, the worker) is Tidings'.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _fastviews
from _common import tidings_views
from sqlalchemy import and_, func, select

import tidings.api.routes.conversations as routes
from tidings.db.schema import conversations
from tidings.desk import queries

_counts: dict[tuple[str, Any], int] = {}
_lock = threading.Lock()


def list_conversation_ids(
    conn: Any, f: queries.ConversationFilter, sort: str, descending: bool, page: queries.Page
) -> tuple[list[int], int]:
    where = queries.conversation_where(f, conn.dialect.name)
    column = queries.CONVERSATION_SORTS[sort]
    order = (
        (column.desc(), conversations.c.id.desc())
        if descending
        else (column.asc(), conversations.c.id.asc())
    )
    ids = list(
        conn.execute(
            select(conversations.c.id)
            .where(and_(True, *where))
            .order_by(*order)
            .limit(page.size)
            .offset(page.offset)
        ).scalars()
    )
    if page.number == 1 and len(ids) < page.size:
        return ids, len(ids)
    position = conn.exec_driver_sql("SELECT max(seq) FROM events").scalar()
    key = (repr(f), position)
    with _lock:
        total = _counts.get(key)
    if total is None:
        total = int(
            conn.execute(
                select(func.count()).select_from(conversations).where(and_(True, *where))
            ).scalar_one()
        )
        with _lock:
            if len(_counts) > 1000:
                _counts.clear()
            _counts[key] = total
    return ids, total


def conversations_json(
    conn: Any, ids: Any, *, with_threads: bool, with_tags: bool = False
) -> list[dict[str, Any]]:
    if with_tags:
        return tidings_views().conversations_json(
            conn, ids, with_threads=with_threads, with_tags=True
        )
    return _fastviews.conversations_json(conn, ids, with_threads=with_threads)


def _limit_threads(n: int) -> None:
    import anyio
    import anyio.to_thread

    original = anyio.to_thread.run_sync
    holder: list[anyio.CapacityLimiter] = []

    async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        if not holder:
            holder.append(anyio.CapacityLimiter(n))
        kwargs["limiter"] = kwargs.get("limiter") or holder[0]
        return await original(func, *args, **kwargs)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


for patch in filter(None, os.environ.get("TIDINGS_BENCH_PATCHES", "").split(",")):
    name, _, value = patch.partition("=")
    if name == "count_cache":
        routes.list_conversation_ids = list_conversation_ids  # type: ignore[assignment]
    elif name == "fastviews":
        routes.conversations_json = conversations_json  # type: ignore[assignment]
    elif name == "threads":
        _limit_threads(int(value))
    else:
        raise SystemExit(f"unknown patch {patch!r}")

if __name__ == "__main__":
    from tidings.cli import main

    sys.argv = ["tidings", *sys.argv[1:]]
    main()
