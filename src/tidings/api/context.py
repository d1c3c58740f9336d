"""What every route needs, built once at start-up and read from ``app.state``."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import orjson
from fastapi import Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.errors import InvalidInput, NotAuthorized, PayloadTooLarge
from tidings.events.outbox import Tx, transaction
from tidings.webhooks.targets import Network

log = logging.getLogger("tidings.api")


@dataclass
class Context:
    settings: Settings
    db: Database
    clock: Clock
    api_key: str
    allowed_networks: list[Network]
    secret: str
    webhook_secret: str = ""
    reads_on_event_loop: bool = False
    wake: Callable[[], None] | None = None

    def wake_workers(self) -> None:
        if self.wake is not None:
            self.wake()

    @contextmanager
    def change(self, operation_id: str | None = None) -> Iterator[Tx]:
        with transaction(self.db, self.clock, operation_id) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.db.read() as conn:
            yield conn

    async def reading(self, work: Callable[[Connection], R]) -> R:
        """``work(conn)`` in one read snapshot, where reads are cheapest (``read_route``)."""

        def run() -> R:
            with self.read() as conn:
                return work(conn)

        return await where_reads_run(self, run)


P = ParamSpec("P")
R = TypeVar("R")


def read_route(handler: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """A GET handler, run where its database reads are cheapest (ADR 0008).

    On SQLite a read is CPU work in this process that never waits for a lock (WAL), and
    the driver releases Python's global lock on every row: in a worker thread, each row
    handed the lock to the event loop and back, which cost more than the page itself
    (a list page: ~290 pages/s in the thread pool, ~530 on the event loop). So SQLite
    reads run on the event loop. PostgreSQL reads wait on the network, so they run in
    the thread pool, as every write does. The handler takes ``ctx`` as a keyword.
    """

    @functools.wraps(handler)
    async def route(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs["ctx"]
        assert isinstance(ctx, Context)
        return await where_reads_run(ctx, handler, *args, **kwargs)

    return route


async def where_reads_run(
    ctx: Context, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """``fn`` on the event loop when reads run there (SQLite), else in the thread pool."""
    if ctx.reads_on_event_loop:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


def app_context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def context(request: Request) -> Context:
    """The dependency. ``async`` on purpose: FastAPI runs a plain ``def`` dependency
    in the thread pool, one more thread hop per request for a dictionary look-up."""
    return app_context(request)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer, and nothing went wrong here: one line for the operator
        # instead of a traceback; the 400 is never sent.
        log.info(
            "client went away after %d of %s body bytes: %s %s",
            size, declared or "?", request.method, request.url.path,
        )  # fmt: skip
        raise InvalidInput.field("body", "The client went away before the body ended") from None
    body = b"".join(chunks)
    request._body = body  # let later readers of request.body() see the same bytes
    return body


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; FreeScout's 400 for anything else.

    Used as a dependency, so it runs on the event loop while the (synchronous) route
    runs in the thread pool with its blocking database work.
    """
    raw = getattr(request, "_body", None)
    if raw is None:
        raw = await read_body(request, app_context(request).settings.max_body_bytes)
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput.field("body", "Request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput.field("body", "Request body must be a JSON object")
    value.pop("api_key", None)  # FreeScout's auth parameter, never a field
    if b"\\u0000" in raw and _has_nul(value):
        # PostgreSQL cannot store NUL in text; refuse it on every database alike.
        raise InvalidInput.field("body", "Request body may not contain NUL (\\u0000) characters")
    return value


def _has_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def authorize(request: Request) -> None:
    """FreeScout's ApiAuth: ``api_key`` (query or body), then ``X-FreeScout-API-Key``.

    Also refuses NUL in the query string, which PostgreSQL cannot compare with text, on
    every database alike: one dependency instead of two, as each costs every request.
    """
    ctx = app_context(request)
    key = request.query_params.get("api_key") or request.headers.get("x-freescout-api-key")
    if key is None and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        raw = await read_body(request, ctx.settings.max_body_bytes)
        if raw[:1] == b"{":
            try:
                found = orjson.loads(raw).get("api_key")
            except (orjson.JSONDecodeError, AttributeError):
                found = None
            key = found if isinstance(found, str) else None
    if not key or not _same(key, ctx.api_key):
        raise NotAuthorized()
    if b"%00" in request.scope.get("query_string", b""):
        _refuse_nul_in_query(request)


def _refuse_nul_in_query(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise InvalidInput.field(name, f"`{name}` may not contain NUL (%00)", "query")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
