"""``create_app(settings)``: the ASGI app; its lifespan migrates and starts the workers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from tidings import __version__, console
from tidings.api import contract, errors
from tidings.api.context import Context, authorize
from tidings.api.cors import install_cors
from tidings.api.routes import (
    attachments,
    conversations,
    customers,
    index,
    mailboxes,
    metrics,
    tags,
    users,
    webhooks,
)
from tidings.clock import Clock, system_clock
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.db.migrate import upgrade
from tidings.keys import api_key, stored_value, webhook_secret
from tidings.operations.runner import WorkerThread
from tidings.webhooks.dispatcher import Dispatcher, DispatcherThread
from tidings.webhooks.targets import parse_networks

ROUTERS = (conversations, customers, users, mailboxes, tags, webhooks, attachments)


def build_context(settings: Settings, clock: Clock = system_clock) -> Context:
    db = Database(settings.database_url, mmap_mb=settings.sqlite_mmap_mb)
    upgrade(db)
    return Context(
        settings=settings,
        db=db,
        clock=clock,
        api_key=api_key(db, settings.api_key),
        allowed_networks=parse_networks(settings.webhook_allowed_networks),
        secret=stored_value(db, "signing_secret", secrets.token_hex(32)),
        webhook_secret=webhook_secret(db, settings.webhook_secret),
        reads_on_event_loop=(
            db.is_sqlite if settings.reads_on_event_loop is None else settings.reads_on_event_loop
        ),
    )


def dispatcher_thread(ctx: Context) -> DispatcherThread | None:
    """The webhook dispatcher, unless ``TIDINGS_RUN_DISPATCHER`` is false."""
    if not ctx.settings.run_dispatcher:
        return None
    dispatcher = Dispatcher(
        ctx.db, ctx.clock, ctx.settings, ctx.webhook_secret, ctx.allowed_networks
    )
    return DispatcherThread(dispatcher, ctx.settings)


def request_threads(settings: Settings, db: Database) -> int:
    """How many requests do their database work at once.

    SQLite releases Python's global lock on every row and statement, so threads hand it
    back and forth: measured on a list page, 1 / 2 / 8 threads served 319 / 235 / 154
    pages/s, and creating conversations 308 / 232 a second with 1 / 2. SQLite has one
    writer at a time anyway, and its reads run on the event loop (ADR 0008): one thread.
    PostgreSQL requests wait on the network, so more threads overlap that wait.
    """
    if settings.request_threads:
        return settings.request_threads
    return 1 if db.is_sqlite else 16


def create_app(settings: Settings, clock: Clock = system_clock) -> FastAPI:
    ctx = build_context(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = request_threads(
            settings, ctx.db
        )
        worker = WorkerThread(ctx.db, ctx.clock, settings) if settings.run_workers else None
        dispatcher = dispatcher_thread(ctx) if settings.run_workers else None
        if worker:
            ctx.wake = worker.wake
            worker.start()
        if dispatcher:
            dispatcher.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            if dispatcher:
                dispatcher.stop()
            ctx.db.dispose()

    app = FastAPI(
        title="Tidings",
        version=__version__,
        description="A help desk API compatible with FreeScout's API & Webhooks module.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    from tidings.api.routes import events, operations

    # Each router straight onto the app: FastAPI matches every level of nesting again
    # on every request (with one dependency instead of two: ~3% of a list page).
    for module in (*ROUTERS, events, operations):
        app.include_router(module.router, prefix="/api", dependencies=[Depends(authorize)])
    metrics.install(app, ctx)
    index.install(app)  # GET / and GET /api, without the API key
    console.install(app, ctx)  # /console, after the API's routes
    errors.install(app)
    contract.install(app)
    install_cors(app, settings.cors_hosts)
    return app
