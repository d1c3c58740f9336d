"""/api/operations: bulk work as tracked operations (Tidings extension)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, page_of
from tidings.errors import InvalidInput, NotFound
from tidings.operations import planning, store, wakeup

router = APIRouter(tags=["operations"])


@router.post("/operations", status_code=202, openapi_extra=bodies.CREATE_OPERATION)
def create_operation(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        req = planning.parse(tx.conn, body)
        if req.dry_run:
            return JSON(
                planning.dry_run(
                    tx.conn, req, ctx.secret, tx.now, ctx.settings.confirm_token_ttl_seconds
                )
            )
        op_id = planning.queue(tx, req, ctx.secret)
        row = store.get(tx.conn, op_id)
    ctx.wake_workers()
    return JSON(store.operation_json(row), status_code=202, headers={"Resource-ID": op_id})


@router.get("/operations")
@read_route
def list_operations(
    ctx: Context = Depends(context),
    status: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    if status is not None and status not in store.ACTIVE + store.FINISHED:
        raise InvalidInput.field("status", "unknown operation status")
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        rows, total = store.list_recent(conn, status, pg.size, pg.offset)
    return page_of("operations", [store.operation_json(r) for r in rows], pg, total)


@router.get("/operations/{op_id}")
@read_route
def get_operation(op_id: str, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        row = store.get(conn, op_id)
    if row is None:
        raise NotFound()
    return JSON(store.operation_json(row))


@router.post("/operations/{op_id}/cancel", status_code=202)
def cancel_operation(op_id: str, ctx: Context = Depends(context)) -> Response:
    """Ask a queued or running operation to stop after its current chunk."""
    with ctx.db.write() as conn:
        row = store.get(conn, op_id, lock=True)
        if row is None:
            raise NotFound()
        if row.status in store.ACTIVE:
            store.set_fields(conn, op_id, cancel_requested=True)
            wakeup.notify(conn)
        row = store.get(conn, op_id)
    ctx.wake_workers()
    return JSON(store.operation_json(row), status_code=202)
